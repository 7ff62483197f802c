// MoeModel: picks the architecture from config.json, loads weights onto the device in the asked
// dtype, pads batches, and turns routing tensors into RoutingRecords for hooks.
#include "moesim/model/model.hpp"

#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <cstdio>

#include "moesim/common/error.hpp"
#include "network.hpp"

namespace moesim::model {
namespace {

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "f32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "f16" || name == "fp16") return at::kHalf;
  throw InputError(fmt::format("--dtype {}: expected float32, bfloat16 or float16", name));
}

at::Device parse_device(const std::string& name) {
  if (name != "cpu" && name.rfind("cuda", 0) != 0) throw InputError(fmt::format("--device {}: expected cpu, cuda or cuda:N", name));
  at::Device device = [&] {
    try {
      return at::Device(name);
    } catch (const c10::Error&) {
      throw InputError(fmt::format("--device {}: expected cpu, cuda or cuda:N", name));
    }
  }();
  if (device.is_cuda() && !at::hasCUDA()) throw InputError(fmt::format("--device {}: this build of LibTorch has no CUDA", name));
  return device;
}

std::vector<std::int32_t> to_int32(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kInt).contiguous();
  return {c.data_ptr<std::int32_t>(), c.data_ptr<std::int32_t>() + c.numel()};
}

std::vector<float> to_float(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace

struct MoeModel::Impl {
  LoadOptions options;
  ModelConfig config;
  at::Device device{at::kCPU};
  std::unique_ptr<Network> network;
};

MoeModel::MoeModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MoeModel::~MoeModel() = default;
const ModelConfig& MoeModel::config() const { return impl_->config; }
const LoadOptions& MoeModel::options() const { return impl_->options; }

std::unique_ptr<MoeModel> MoeModel::load(const std::filesystem::path& dir, const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->config = load_config(dir);
  impl->device = parse_device(options.device);
  const at::ScalarType dtype = parse_dtype(options.dtype);
  c10::InferenceMode guard;
  Checkpoint checkpoint(dir);
  WeightLoader weights(checkpoint, impl->device, dtype);
  for (const auto& name : checkpoint.names()) {
    // Buffers some exporters save although they are recomputed (RoPE), and DeepSeek's
    // multi-token-prediction layers (index >= num_hidden_layers), which a forward pass never uses.
    if (name.ends_with("rotary_emb.inv_freq")) weights.ignore(name);
    int layer = -1;
    if (std::sscanf(name.c_str(), "model.layers.%d.", &layer) == 1 && layer >= impl->config.num_layers &&
        impl->config.model_type == "deepseek_v3")
      weights.ignore(name);
  }
  impl->network = impl->config.model_type == "deepseek_v3" ? build_deepseek_v3(impl->config, weights)
                                                            : build_mixtral_family(impl->config, weights);
  weights.finish();
  return std::unique_ptr<MoeModel>(new MoeModel(std::move(impl)));
}

ForwardResult MoeModel::forward(const std::vector<std::vector<std::int32_t>>& sequences, RoutingHook* hook) const {
  const ModelConfig& c = impl_->config;
  if (sequences.empty()) throw InputError("forward: no sequences given");
  std::int64_t B = static_cast<std::int64_t>(sequences.size()), S = 0;
  for (std::size_t b = 0; b < sequences.size(); ++b) {
    if (sequences[b].empty()) throw InputError(fmt::format("sequence {} is empty", b));
    S = std::max<std::int64_t>(S, static_cast<std::int64_t>(sequences[b].size()));
    for (std::size_t i = 0; i < sequences[b].size(); ++i)
      if (sequences[b][i] < 0 || sequences[b][i] >= c.vocab_size)
        throw InputError(fmt::format("token id {} (sequence {}, position {}) is outside the vocabulary [0, {})",
                                     sequences[b][i], b, i, c.vocab_size));
  }
  // Left padding keeps every sequence's last token in the last column (what generation expects).
  at::Tensor ids = at::zeros({B, S}, at::kLong), valid = at::zeros({B, S}, at::kBool);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto valid_a = valid.accessor<bool, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    std::int64_t n = static_cast<std::int64_t>(sequences[b].size());
    for (std::int64_t i = 0; i < n; ++i) {
      ids_a[b][S - n + i] = sequences[b][i];
      valid_a[b][S - n + i] = true;
    }
  }

  c10::InferenceMode guard;
  at::Tensor real_tokens = valid.reshape({-1}).nonzero().reshape({-1}).to(impl_->device);  // (real T)
  RoutingCallback on_routing;
  if (hook) {
    on_routing = [&](int moe_index, int layer, const layers::Routing& routing) {
      RoutingRecord r;
      r.moe_index = moe_index;
      r.model_layer = layer;
      r.tokens = real_tokens.size(0);
      r.top_k = c.top_k;
      r.num_experts = c.num_experts;
      r.expert_ids = to_int32(routing.expert_ids.index_select(0, real_tokens));
      r.gates = to_float(routing.gates.index_select(0, real_tokens));
      if (hook->wants_router_probs()) r.router_probs = to_float(routing.router_probs.index_select(0, real_tokens));
      hook->on_routing(r);
    };
  }
  at::Tensor logits = impl_->network->forward(ids.to(impl_->device), valid.to(impl_->device), on_routing);  // (B, S, V)
  ForwardResult out;
  out.batch = B;
  out.seq_len = S;
  out.vocab = c.vocab_size;
  out.logits = to_float(logits);
  out.valid.resize(static_cast<std::size_t>(B * S));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < S; ++s) out.valid[b * S + s] = valid_a[b][s];
  return out;
}

}  // namespace moesim::model
