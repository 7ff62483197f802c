// Loading a Network for training or evaluation, random initialisation and checkpoint writing.
#include "train_model.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>

#include "moesim/common/error.hpp"
#include "moesim/model/safetensors.hpp"
#include "architectures.hpp"
#include "weights.hpp"

namespace moesim::model {

LoadedNetwork load_network(const std::filesystem::path& dir, const std::string& device, const std::string& dtype,
                           bool trainable, const std::string& mxfp4) {
  LoadedNetwork out;
  out.config = load_config(dir);
  const std::vector<at::Device> devices = devices_from_list(device);
  if (devices.size() != 1) throw InputError(fmt::format("--device {}: training and evaluation run on one device", device));
  out.device = devices.front();
  const at::ScalarType type = trainable ? at::kFloat : dtype_from_name(dtype);
  const Mxfp4Mode mxfp4_mode = mxfp4_mode_from_name(mxfp4);
  if (trainable && mxfp4_mode == Mxfp4Mode::kKeep)
    throw InputError("--mxfp4 keep: training needs float weights (use --mxfp4 dequantize)");
  if (trainable) require_trainable(out.config, dir / "config.json");
  out.network = build_network(dir, out.config, Placement::contiguous({out.device}, out.config.num_layers), type,
                              mxfp4_mode);
  out.weights = out.network->named_weights();
  if (trainable)
    for (auto& [name, tensor] : out.weights) tensor.requires_grad_(true);
  return out;
}

void require_trainable(const ModelConfig& c, const std::filesystem::path& config) {
  if (find_architecture(c.model_type, config).trainable) return;
  std::vector<std::string_view> trainable;
  for (const Architecture& a : architectures())
    if (a.trainable) trainable.push_back(a.model_type);
  throw InputError(located(config, fmt::format("training {} models is not supported yet (trainable: {})", c.model_type,
                                               fmt::join(trainable, ", "))));
}

NamedWeights init_weights(const ModelConfig& c, double std) {
  require_trainable(c, "config.json");
  const int64_t H = c.hidden_size, h = c.num_heads, g = c.num_kv_heads, d = c.head_dim, E = c.num_experts,
                I = c.moe_intermediate_size, V = c.vocab_size;
  NamedWeights w;
  auto normal = [&](const std::string& name, std::vector<int64_t> shape) {
    w.emplace_back(name, at::empty(shape, at::kFloat).normal_(0.0, std));
  };
  auto ones = [&](const std::string& name, int64_t n) { w.emplace_back(name, at::ones({n}, at::kFloat)); };
  auto zeros = [&](const std::string& name, int64_t n) { w.emplace_back(name, at::zeros({n}, at::kFloat)); };
  normal("model.embed_tokens.weight", {V, H});
  ones("model.norm.weight", H);
  if (!c.tie_word_embeddings) normal("lm_head.weight", {V, H});
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    ones(p + "input_layernorm.weight", H);
    ones(p + "post_attention_layernorm.weight", H);
    normal(p + "self_attn.q_proj.weight", {h * d, H});
    normal(p + "self_attn.k_proj.weight", {g * d, H});
    normal(p + "self_attn.v_proj.weight", {g * d, H});
    normal(p + "self_attn.o_proj.weight", {H, h * d});
    if (c.qkv_bias) {
      zeros(p + "self_attn.q_proj.bias", h * d);
      zeros(p + "self_attn.k_proj.bias", g * d);
      zeros(p + "self_attn.v_proj.bias", g * d);
    }
    if (c.o_bias) zeros(p + "self_attn.o_proj.bias", H);
    if (c.qk_norm == QkNorm::kPerHead) ones(p + "self_attn.q_norm.weight", d), ones(p + "self_attn.k_norm.weight", d);
    if (c.qk_norm == QkNorm::kWhole) ones(p + "self_attn.q_norm.weight", h * d), ones(p + "self_attn.k_norm.weight", g * d);
    if (c.moe_layer[l]) {
      const std::string m = p + (c.model_type == "mixtral" ? "block_sparse_moe" : "mlp");
      normal(m + ".gate.weight", {E, H});
      normal(m + ".experts.gate", {E, I, H});
      normal(m + ".experts.up", {E, I, H});
      normal(m + ".experts.down", {E, H, I});
      if (c.shared_expert_intermediate_size > 0) {
        const int64_t S = c.shared_expert_intermediate_size;
        normal(m + ".shared_expert.gate_proj.weight", {S, H});
        normal(m + ".shared_expert.up_proj.weight", {S, H});
        normal(m + ".shared_expert.down_proj.weight", {H, S});
        normal(m + ".shared_expert_gate.weight", {1, H});
      }
    } else {
      normal(p + "mlp.gate_proj.weight", {c.intermediate_size, H});
      normal(p + "mlp.up_proj.weight", {c.intermediate_size, H});
      normal(p + "mlp.down_proj.weight", {H, c.intermediate_size});
    }
  }
  return w;
}

namespace {
DType file_dtype(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return DType::kBF16;
    case at::kHalf: return DType::kF16;
    default: return DType::kF32;
  }
}
}  // namespace

void save_weights(const std::filesystem::path& file, const NamedWeights& weights, at::ScalarType dtype) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // checkpoint name, contiguous CPU tensor
  auto put = [&](const std::string& name, const at::Tensor& t) {
    tensors.emplace_back(name, t.detach().to(at::kCPU, dtype).contiguous());
  };
  for (const auto& [name, t] : weights) {
    const auto dot = name.rfind('.');
    const std::string last = name.substr(dot + 1), head = name.substr(0, dot);
    if (!head.ends_with(".experts") || (last != "gate" && last != "up" && last != "down")) {
      put(name, t);
      continue;
    }
    const bool mixtral = head.find("block_sparse_moe") != std::string::npos;
    const std::string file_name = mixtral ? (last == "gate" ? "w1" : last == "up" ? "w3" : "w2") : last + "_proj";
    for (int64_t e = 0; e < t.size(0); ++e) put(fmt::format("{}.{}.{}.weight", head, e, file_name), t[e]);
  }
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors)
    out.push_back({name, file_dtype(dtype), t.sizes().vec(),
                   {static_cast<const std::byte*>(t.data_ptr()), static_cast<std::size_t>(t.nbytes())}});
  write_safetensors(file, out);
}

}  // namespace moesim::model
