// MoeModel: picks the architecture from config.json, loads weights onto the device in the asked
// dtype, pads batches, and turns routing tensors into RoutingRecords for hooks.
#include "moesim/model/model.hpp"

#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <cstdio>

#include "moesim/common/error.hpp"
#include "architectures.hpp"
#include "network.hpp"

namespace moesim::model {
namespace {

std::vector<std::int32_t> to_int32(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kInt).contiguous();
  return {c.data_ptr<std::int32_t>(), c.data_ptr<std::int32_t>() + c.numel()};
}

std::vector<float> to_float(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace

at::ScalarType dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "f32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "f16" || name == "fp16") return at::kHalf;
  throw InputError(fmt::format("--dtype {}: expected float32, bfloat16 or float16", name));
}

Mxfp4Mode mxfp4_mode_from_name(const std::string& name) {
  if (name == "dequantize") return Mxfp4Mode::kDequantize;
  if (name == "keep") return Mxfp4Mode::kKeep;
  throw InputError(fmt::format("--mxfp4 {}: expected dequantize or keep", name));
}

std::vector<at::Device> devices_from_list(const std::string& list) {
  auto parse_device = [](const std::string& name) {
    const std::string expected = fmt::format("--device {}: expected cpu, cuda or cuda:N", name);
    if (name != "cpu" && name.rfind("cuda", 0) != 0) throw InputError(expected);
    at::Device device(at::kCPU);
    try {
      device = at::Device(name);
    } catch (const c10::Error&) {
      throw InputError(expected);
    }
    if (device.is_cuda() && !at::hasCUDA()) throw InputError(fmt::format("--device {}: this build of LibTorch has no CUDA", name));
    return device;
  };
  std::vector<at::Device> devices;
  std::size_t begin = 0;
  while (begin <= list.size()) {
    std::size_t end = std::min(list.find(',', begin), list.size());
    devices.push_back(parse_device(list.substr(begin, end - begin)));
    begin = end + 1;
  }
  return devices;
}

std::unique_ptr<Network> build_network(const std::filesystem::path& dir, const ModelConfig& c, const Placement& placement,
                                       at::ScalarType dtype, Mxfp4Mode mxfp4) {
  const Architecture& architecture = find_architecture(c.model_type, dir / "config.json");
  Checkpoint checkpoint(dir);
  WeightLoader weights(checkpoint, placement.layer.front(), dtype, c.quantization, mxfp4);
  for (const auto& name : checkpoint.names()) {
    // Buffers some exporters save although they are recomputed (RoPE), and layers past the last
    // decoder layer that a forward pass never uses (DeepSeek's multi-token prediction).
    if (name.ends_with("rotary_emb.inv_freq")) weights.ignore(name);
    int layer = -1;
    if (architecture.unused_extra_layers && std::sscanf(name.c_str(), "model.layers.%d.", &layer) == 1 &&
        layer >= c.num_layers)
      weights.ignore(name);
  }
  std::unique_ptr<Network> network;
  switch (architecture.graph) {
    case Graph::kGqaMoe: network = build_gqa_moe(c, placement, weights); break;
    case Graph::kDeepseekMla: network = build_deepseek_v3(c, placement, weights); break;
    case Graph::kLlama4: network = build_llama4(c, placement, weights); break;
  }
  weights.finish();
  return network;
}

EmbeddingAndHead EmbeddingAndHead::load(WeightLoader& w, const ModelConfig& c, const Placement& placement,
                                        const std::string& prefix) {
  EmbeddingAndHead out;
  w.set_device(placement.layer.front());
  out.embed = w.get(prefix + "model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
  w.set_device(placement.layer.back());
  out.final_norm = w.get(prefix + "model.norm.weight", {c.hidden_size});
  if (c.norm == Norm::kLayerNorm) out.final_norm_bias = w.get(prefix + "model.norm.bias", {c.hidden_size});
  if (c.lm_head_bias) out.lm_head_bias = w.get(prefix + "lm_head.bias", {c.vocab_size});
  if (c.tie_word_embeddings) {
    out.lm_head = out.embed.defined() ? out.embed.to(placement.layer.back()) : out.embed;
    w.ignore(prefix + "lm_head.weight");
  } else {
    out.lm_head = w.get(prefix + "lm_head.weight", {c.vocab_size, c.hidden_size});
  }
  return out;
}

namespace {

// One MoE layer's routing as route() handed it on, kept until the forward pass ends.
struct RoutedLayer {
  int moe_index, layer;
  layers::Routing routing;  // router_probs: the router's own scores, whatever a strategy chose
};

// Throws NonFiniteError at the first layer whose router scores or gates hold NaN or ±Inf. One
// device → host copy for all layers: a check per layer stalled the GPU once a layer (a third of
// the capture step's idle time on an H100, 2026-12-05); the values stay on the device until then.
void check_routing_finite(const std::vector<RoutedLayer>& routed, std::int64_t seq_len) {
  if (routed.empty()) return;
  std::vector<at::Tensor> finite;  // per layer, a 0-dim bool on the layer's device
  finite.reserve(routed.size());
  for (const RoutedLayer& r : routed)
    finite.push_back((at::isfinite(r.routing.router_probs).all() & at::isfinite(r.routing.gates).all()).to(at::kCPU));
  const at::Tensor all = at::stack(finite);  // (layers) bool on the host
  if (all.all().item<bool>()) return;
  const std::int64_t first = at::logical_not(all).nonzero()[0][0].item<std::int64_t>();
  const RoutedLayer& r = routed[static_cast<std::size_t>(first)];
  const std::string where = fmt::format("MoE layer {} (model layer {})", r.moe_index, r.layer);
  std::string bad = layers::first_non_finite(r.routing.router_probs, seq_len, where + " router scores");
  if (bad.empty()) bad = layers::first_non_finite(r.routing.gates, seq_len, where + " gates");
  throw NonFiniteError(bad + "; the checkpoint's weights, or the dtype's range, are the likely cause");
}

}  // namespace

at::Tensor Network::forward(const at::Tensor& ids, const at::Tensor& valid, const RoutingCallback& on_routing,
                            bool want_logits) const {
  // Every layer's routing is collected while the pass runs and checked and handed on after it, so
  // that nothing in the pass waits for the device but the experts' block sizes.
  std::vector<RoutedLayer> routed;
  const RoutingCallback collect = [&](int moe_index, int layer, const layers::Routing& routing) {
    routed.push_back({moe_index, layer, routing});
  };
  at::Tensor logits = forward_pass(ids, valid, collect, want_logits);  // (B, S, V)
  check_routing_finite(routed, ids.size(1));
  if (want_logits) {
    const std::int64_t B = logits.size(0), S = logits.size(1);
    std::string bad = layers::first_non_finite(logits.reshape({B * S, -1}), S, "logits");
    if (!bad.empty()) throw NonFiniteError(bad + "; the checkpoint's weights, or the dtype's range, are the likely cause");
  }
  if (on_routing)
    for (const RoutedLayer& r : routed) on_routing(r.moe_index, r.layer, r.routing);
  return logits;
}

layers::Routing Network::route(const strategies::RouterView& view, int moe_index, int layer,
                               const RoutingCallback& on_routing) const {
  layers::Routing routing = strategy_ ? strategy_->apply(view, moe_index) : *view.natural;
  if (on_routing) on_routing(moe_index, layer, routing);
  return routing;
}

void LayerInputs::move_to(at::Device device) {
  x = x.to(device);
  rope = {rope.cos.to(device), rope.sin.to(device)};
  bias = bias.to(device);
  if (sliding_bias.defined()) sliding_bias = sliding_bias.to(device);
  if (!device.is_cuda()) causal = false;  // layers split onto the CPU take the bias (no flash kernels there)
}

struct MoeModel::Impl {
  LoadOptions options;
  ModelConfig config;
  Placement placement;
  std::unique_ptr<Network> network;
  std::unique_ptr<strategies::RoutingStrategy> strategy;  // null: the model's own routing
  StrategySpec strategy_spec;
};

MoeModel::MoeModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MoeModel::~MoeModel() = default;
const ModelConfig& MoeModel::config() const { return impl_->config; }
const LoadOptions& MoeModel::options() const { return impl_->options; }
std::string MoeModel::placement() const { return impl_->placement.describe(); }

void MoeModel::set_routing_strategy(const StrategySpec& spec) {
  auto strategy = strategies::make_strategy(spec);
  strategy->check(impl_->config.num_experts, impl_->config.top_k);
  impl_->strategy = std::move(strategy);
  impl_->strategy_spec = spec;
  impl_->network->set_strategy(impl_->strategy.get());
}

const StrategySpec& MoeModel::routing_strategy() const { return impl_->strategy_spec; }

std::vector<StrategyLayerStats> MoeModel::routing_strategy_stats() const {
  return impl_->strategy ? impl_->strategy->stats() : std::vector<StrategyLayerStats>{};
}

std::unique_ptr<MoeModel> MoeModel::load(const std::filesystem::path& dir, const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->config = load_config(dir);
  const at::ScalarType dtype = dtype_from_name(options.dtype);
  const Mxfp4Mode mxfp4 = mxfp4_mode_from_name(options.mxfp4);
  if (options.device == kAutoDevice) {
    impl->placement = auto_placement(dir, impl->config, dtype, /*mxfp4_kept=*/mxfp4 == Mxfp4Mode::kKeep);
  } else {
    const std::vector<at::Device> devices = devices_from_list(options.device);
    if (static_cast<int>(devices.size()) > impl->config.num_layers)
      throw InputError(fmt::format("--device {}: more devices than the model's {} layers", options.device,
                                   impl->config.num_layers));
    impl->placement = Placement::contiguous(devices, impl->config.num_layers);
  }
  for (const auto& d : impl->placement.layer)  // LibTorch's CPU matmul has no float16 kernel (bfloat16 it has)
    if (d.is_cpu() && dtype == at::kHalf)
      throw InputError("--dtype float16 needs a CUDA device; on CPU use bfloat16 or float32");
  c10::InferenceMode guard;
  impl->network = build_network(dir, impl->config, impl->placement, dtype, mxfp4);
  return std::unique_ptr<MoeModel>(new MoeModel(std::move(impl)));
}

std::int64_t MoeModel::routed_expert_bytes() const { return impl_->network->routed_expert_bytes(); }

ForwardResult MoeModel::forward(const std::vector<std::vector<std::int32_t>>& sequences, RoutingHook* hook,
                               bool want_logits) const {
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
  const at::Device first = impl_->placement.layer.front();
  at::Tensor real_tokens = valid.reshape({-1}).nonzero().reshape({-1});  // (real T) on CPU; moved per layer
  RoutingCallback on_routing;
  if (hook) {
    on_routing = [&](int moe_index, int layer, const layers::Routing& routing) {
      RoutingRecord r;
      r.moe_index = moe_index;
      r.model_layer = layer;
      r.tokens = real_tokens.size(0);
      r.top_k = static_cast<int>(routing.expert_ids.size(1));
      r.num_experts = c.num_experts;
      at::Tensor real = real_tokens.to(routing.expert_ids.device());
      r.expert_ids = to_int32(routing.expert_ids.index_select(0, real));
      r.gates = to_float(routing.gates.index_select(0, real));
      if (hook->wants_router_probs()) r.router_probs = to_float(routing.router_probs.index_select(0, real));
      hook->on_routing(r);
    };
  }
  at::Tensor logits = impl_->network->forward(ids.to(first), valid.to(first), on_routing, want_logits);  // (B, S, V)
  ForwardResult out;
  out.batch = B;
  out.seq_len = S;
  out.vocab = c.vocab_size;
  if (want_logits) out.logits = to_float(logits);
  out.valid.resize(static_cast<std::size_t>(B * S));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < S; ++s) out.valid[b * S + s] = valid_a[b][s];
  return out;
}

}  // namespace moesim::model
