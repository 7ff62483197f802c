#pragma once
// A model's hyper-parameters as read from a Hugging Face config.json, one struct for every supported
// architecture (fields that an architecture lacks keep their neutral defaults). Parsing checks each
// field it needs and names the field and the file when one is missing or malformed.
#include <filesystem>
#include <string>
#include <vector>

namespace moesim::model {

// How queries and keys are normalised before RoPE.
enum class QkNorm {
  kNone,     // Mixtral, Qwen2-MoE
  kPerHead,  // Qwen3-MoE: RMSNorm over head_dim, weights shared by all heads
  kWhole,    // OLMoE: RMSNorm over the whole projection (heads × head_dim)
};

// How router logits become the chosen experts and their gate weights.
enum class Router {
  kSoftmaxTopK,         // softmax over experts, top-k, optional renormalisation (Mixtral, Qwen, OLMoE)
  kSigmoidGroupLimited, // DeepSeek-V3: sigmoid, +bias for selection only, best groups first, scaled
};

struct ModelConfig {
  std::string model_type;  // config.json model_type: mixtral, qwen3_moe, olmoe, qwen2_moe, deepseek_v3
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;            // per head for q, k, v (GQA families)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;

  // Feed-forward
  int intermediate_size = 0;      // dense MLP layers (or every expert for Mixtral/OLMoE)
  int moe_intermediate_size = 0;  // one routed expert
  int num_experts = 0;            // routed experts per MoE layer
  int top_k = 0;
  bool norm_topk_prob = false;    // renormalise the k chosen gate weights to sum to 1
  std::vector<bool> moe_layer;    // per model layer: MoE (true) or dense MLP (false)
  Router router = Router::kSoftmaxTopK;

  // Qwen2-MoE: one always-on expert, its output scaled by sigmoid(x · shared_expert_gate)
  int shared_expert_intermediate_size = 0;

  QkNorm qk_norm = QkNorm::kNone;
  double clip_qkv = 0;  // OLMoE: clamp q, k, v to ±clip_qkv when > 0

  // DeepSeek-V3: multi-head latent attention and grouped sigmoid routing
  int q_lora_rank = 0;  // 0: queries through one q_proj
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
  bool rope_interleave = false;
  int n_group = 1;
  int topk_group = 1;
  int n_shared_experts = 0;
  double routed_scaling_factor = 1.0;

  std::vector<int> moe_layer_indices() const;  // model layer index of each MoE layer
};

// Reads DIR/config.json. Throws moesim::InputError naming the file and the field.
ModelConfig load_config(const std::filesystem::path& model_dir);

// The architectures load_config understands, for help texts and errors.
const std::vector<std::string>& supported_model_types();

}  // namespace moesim::model
