#include "moesim/model/random_checkpoint.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "moesim/common/atomic_file.hpp"
#include "moesim/model/safetensors.hpp"

namespace moesim::model {

void write_random_mixtral(const std::filesystem::path& dir, const RandomMixtralSpec& s) {
  const bool bf16 = s.dtype == "bfloat16";
  if (!bf16 && s.dtype != "float32") throw std::invalid_argument("write_random_mixtral: dtype must be float32 or bfloat16");
  std::filesystem::create_directories(dir);
  const int head_dim = s.hidden_size / s.num_heads;
  nlohmann::json config = {
      {"architectures", {"MixtralForCausalLM"}}, {"model_type", "mixtral"}, {"vocab_size", s.vocab_size},
      {"hidden_size", s.hidden_size}, {"intermediate_size", s.intermediate_size}, {"num_hidden_layers", s.num_layers},
      {"num_attention_heads", s.num_heads}, {"num_key_value_heads", s.num_kv_heads}, {"head_dim", head_dim},
      {"num_local_experts", s.num_experts}, {"num_experts_per_tok", s.top_k}, {"rms_norm_eps", 1e-5},
      {"rope_theta", 1e6}, {"hidden_act", "silu"}, {"tie_word_embeddings", false}, {"sliding_window", nullptr},
      {"max_position_embeddings", 4096}, {"dtype", bf16 ? "bfloat16" : "float32"}};
  write_file_atomically(dir / "config.json", config.dump(2) + "\n");

  at::manual_seed(s.seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  // Weights ~ N(0, 1/fan_in) keep activations O(1) through the layers, so routing is not degenerate.
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool norm = false) {
    at::Tensor t = norm ? at::ones(shape) : at::randn(shape) / std::sqrt(static_cast<double>(shape.back()));
    tensors.emplace_back(name, t.to(bf16 ? at::kBFloat16 : at::kFloat).contiguous());
  };
  const int H = s.hidden_size, I = s.intermediate_size, q = s.num_heads * head_dim, kv = s.num_kv_heads * head_dim;
  add("model.embed_tokens.weight", {s.vocab_size, H});
  add("model.norm.weight", {H}, true);
  add("lm_head.weight", {s.vocab_size, H});
  for (int l = 0; l < s.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    add(p + "input_layernorm.weight", {H}, true);
    add(p + "post_attention_layernorm.weight", {H}, true);
    add(p + "self_attn.q_proj.weight", {q, H});
    add(p + "self_attn.k_proj.weight", {kv, H});
    add(p + "self_attn.v_proj.weight", {kv, H});
    add(p + "self_attn.o_proj.weight", {H, q});
    add(p + "block_sparse_moe.gate.weight", {s.num_experts, H});
    for (int e = 0; e < s.num_experts; ++e) {
      const std::string x = fmt::format("{}block_sparse_moe.experts.{}.", p, e);
      add(x + "w1.weight", {I, H});
      add(x + "w3.weight", {I, H});
      add(x + "w2.weight", {H, I});
    }
  }
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors)
    out.push_back({name, bf16 ? DType::kBF16 : DType::kF32, t.sizes().vec(),
                   std::span<const std::byte>(static_cast<const std::byte*>(t.data_ptr()), t.nbytes())});
  write_safetensors(dir / "model.safetensors", out);
}

}  // namespace moesim::model
