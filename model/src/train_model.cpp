// Loading a Network for training or evaluation, random initialisation and checkpoint writing.
#include "train_model.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "moesim/common/error.hpp"
#include "moesim/model/safetensors.hpp"
#include "weights.hpp"

namespace moesim::model {

at::ScalarType dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "f32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "f16" || name == "fp16") return at::kHalf;
  throw InputError(fmt::format("--dtype {}: expected float32, bfloat16 or float16", name));
}

at::Device device_from_name(const std::string& name) {
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
}

LoadedNetwork load_network(const std::filesystem::path& dir, const std::string& device, const std::string& dtype,
                           bool trainable) {
  LoadedNetwork out;
  out.config = load_config(dir);
  out.device = device_from_name(device);
  const at::ScalarType type = trainable ? at::kFloat : dtype_from_name(dtype);
  if (trainable && out.config.model_type == "deepseek_v3")
    throw InputError(located(dir, "training deepseek_v3 models is not supported yet (Mixtral family only)"));
  Checkpoint checkpoint(dir);
  WeightLoader weights(checkpoint, out.device, type);
  // The same tensors MoeModel::load skips (model.cpp): RoPE buffers, DeepSeek's MTP layers.
  for (const auto& name : checkpoint.names()) {
    if (name.ends_with("rotary_emb.inv_freq")) weights.ignore(name);
    int layer = -1;
    if (std::sscanf(name.c_str(), "model.layers.%d.", &layer) == 1 && layer >= out.config.num_layers &&
        out.config.model_type == "deepseek_v3")
      weights.ignore(name);
  }
  const Placement placement = Placement::contiguous({out.device}, out.config.num_layers);
  out.network = out.config.model_type == "deepseek_v3" ? build_deepseek_v3(out.config, placement, weights)
                                                        : build_gqa_moe(out.config, placement, weights);
  weights.finish();
  out.weights = out.network->named_weights();
  if (trainable)
    for (auto& [name, tensor] : out.weights) tensor.requires_grad_(true);
  return out;
}

NamedWeights init_weights(const ModelConfig& c, double std) {
  if (c.model_type == "deepseek_v3") throw InputError("training deepseek_v3 from scratch is not supported (Mixtral family only)");
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
