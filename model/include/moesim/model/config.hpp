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
  kL2,       // Llama 4: RMSNorm without weight over head_dim, after RoPE, on RoPE layers only
};

// How router logits become the chosen experts and their gate weights.
enum class Router {
  kSoftmaxTopK,         // softmax over experts, top-k, optional renormalisation (Mixtral, Qwen, OLMoE)
  kSigmoidGroupLimited, // DeepSeek-V3: sigmoid, +bias for selection only, best groups first, scaled
  kSoftmaxGroupLimited, // DeepSeek-V2: softmax, best groups (by their top expert) first or greedy, scaled, never renormalised
  kSoftmaxBiased,       // ERNIE 4.5: softmax, +bias for selection only, renormalised (sum clamped below at moe_norm_min)
  kTopKSoftmax,         // gpt-oss: top-k of the (biased) logits, softmax over those k only
  kSparseMixer,         // Phi-3.5-MoE: sparsemixer's two masked-softmax rounds, top-2 (inference: no jitter)
  kSigmoidTopK,         // Llama 4: top-k of the logits, gate sigmoid(logit), applied to the expert's input
};

// The normalisation of the residual stream (before attention, before the MLP, and at the end).
enum class Norm {
  kRms,        // RMSNorm, weight only (most families)
  kLayerNorm,  // LayerNorm with weight and bias (Phi-3.5-MoE)
};

// What one routed expert computes.
enum class ExpertActivation {
  kSwiGlu,         // down(silu(gate x) ⊙ up x)
  kClampedSwiGlu,  // gpt-oss: biased, gate ≤ limit, |up| ≤ limit, down((up + 1) ⊙ gate·σ(α·gate)) + b
};

// How RoPE frequencies are stretched beyond the pre-training context (config.json rope_parameters
// or rope_scaling), with the meanings and defaults of transformers' modeling_rope_utils.py.
enum class RopeType {
  kDefault,  // inv_freq[i] = theta^(-2i/d)
  kLinear,   // inv_freq / factor
  kYarn,     // blend of inv_freq and inv_freq / factor over a ramp of dimensions; cos/sin × attention_factor
  kLlama3,   // Llama 3.1: long wavelengths / factor, short ones kept, smooth in between
  kLongRope, // Phi-3 / Phi-3.5-MoE: inv_freq / short_factor[i] or / long_factor[i], chosen by the batch's length
};

struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;
  int original_max_position_embeddings = 0;
  double beta_fast = 32.0;          // YaRN: rotations at which the ramp starts (extrapolation side)
  double beta_slow = 1.0;           // YaRN: rotations at which it ends (interpolation side)
  double mscale = 0.0;              // YaRN (DeepSeek): attention_factor = mscale_of(mscale) / mscale_of(mscale_all_dim)
  double mscale_all_dim = 0.0;      //   and DeepSeek-V3's softmax scale × mscale_of(mscale_all_dim)^2
  double attention_factor = 0.0;    // YaRN: > 0 when config.json sets it explicitly
  bool truncate = true;             // YaRN: round the correction range outwards to whole dimensions
  double low_freq_factor = 1.0;     // Llama 3
  double high_freq_factor = 4.0;    // Llama 3
  std::vector<double> short_factor; // LongRoPE: per-frequency divisors up to original_max_position_embeddings,
  std::vector<double> long_factor;  //   and beyond it (the batch's largest position + 1 decides)
  double short_mscale = 1.0;        // LongRoPE: the factor on cos/sin with short_factor (the attention factor,
  double long_mscale = 1.0;         //   or Phi-3.5-MoE's own short_mscale / long_mscale) and with long_factor
};

// Weights as a checkpoint ships them (config.json quantization_config), dequantized on load to the
// model's dtype (src/dequantize.cpp); the forward pass never sees the difference.
enum class WeightFormat {
  kPlain,      // no quantization_config
  kFp8Blocks,  // quant_method "fp8": float8_e4m3fn weights, one float32 weight_scale_inv per block
  kMxfp4,      // quant_method "mxfp4": <name>_blocks (two e2m1 a byte, 32 a block) + <name>_scales (e8m0)
};
struct Quantization {
  WeightFormat format = WeightFormat::kPlain;
  int block_rows = 0, block_cols = 0;  // FP8: weight_block_size, e.g. [128, 128]
};

// YaRN's magnitude correction 0.1·mscale·ln(factor) + 1 (1 when factor ≤ 1): yarn_get_mscale.
double yarn_mscale(double factor, double mscale);

struct ModelConfig {
  std::string model_type;  // config.json model_type (src/architectures.cpp lists them)
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;            // per head for q, k, v (GQA families)
  int rotary_dim = 0;          // RoPE'd leading dims of each head; 0 = all of head_dim (GLM-4.5: partial_rotary_factor)
  double rms_norm_eps = 1e-6;  // the epsilon of every norm (Phi-3.5-MoE's LayerNorms read it too)
  Norm norm = Norm::kRms;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool lm_head_bias = false;   // lm_head.bias: Phi-3.5-MoE lm_head_bias, ERNIE 4.5 use_bias

  // Sliding-window attention: in layers marked sliding_layer, query i sees key j only when
  // i - j < sliding_window (transformers' masking_utils.sliding_window_overlay). 0: none.
  int sliding_window = 0;
  std::vector<bool> sliding_layer;  // per model layer; empty or all false without a window
  bool attention_sinks = false;     // gpt-oss: a learned logit per head joins each softmax, then is dropped

  // Feed-forward
  int intermediate_size = 0;      // dense MLP layers (or every expert for Mixtral/OLMoE)
  int moe_intermediate_size = 0;  // one routed expert
  int num_experts = 0;            // routed experts per MoE layer
  int top_k = 0;
  bool norm_topk_prob = false;    // renormalise the k chosen gate weights to sum to 1
  std::vector<bool> moe_layer;    // per model layer: MoE (true) or dense MLP (false)
  Router router = Router::kSoftmaxTopK;
  bool router_bias = false;       // gpt-oss: the router's linear map has a bias
  double router_jitter_noise = 0; // Phi-3.5-MoE: sparsemixer's eps (experts within 2·eps of the best stay in its softmax)
  ExpertActivation expert_activation = ExpertActivation::kSwiGlu;
  double swiglu_alpha = 1.702;    // gpt-oss: gate · sigmoid(alpha · gate)
  double swiglu_limit = 7.0;      // gpt-oss: gate clamped above, up clamped to ±limit

  // Qwen2-MoE: one always-on expert, its output scaled by sigmoid(x · shared_expert_gate)
  int shared_expert_intermediate_size = 0;
  // ERNIE 4.5: moe_norm_min, the floor of the top-k sum the gates are divided by (kSoftmaxBiased)
  double moe_norm_min = 0;

  // Biases of the attention projections, as config.json declares them: a checkpoint must then hold
  // them (a missing one is an error, not a silent zero), and holds none otherwise.
  bool qkv_bias = false;  // q, k, v (DeepSeek: q_a_proj and kv_a_proj_with_mqa)
  bool o_bias = false;    // the output projection
  bool mlp_bias = false;     // ERNIE 4.5 use_bias: dense MLPs and shared experts (routed experts never)

  QkNorm qk_norm = QkNorm::kNone;
  double clip_qkv = 0;  // OLMoE: clamp q, k, v to ±clip_qkv when > 0

  // Granite-MoE's muP multipliers (1 elsewhere): embeddings × embedding_multiplier, each sublayer's
  // output × residual_multiplier before the residual add, logits ÷ logits_scaling
  double embedding_multiplier = 1.0;
  double residual_multiplier = 1.0;
  double logits_scaling = 1.0;
  double attention_scale = 0;  // softmax scale of q·k; 0 = 1/sqrt(head_dim) (Granite: attention_multiplier)

  // DeepSeek-V3: multi-head latent attention and grouped sigmoid routing
  int q_lora_rank = 0;  // 0: queries through one q_proj
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
  bool rope_interleave = false;  // RoPE pairs (x0,x1),(x2,x3)... (DeepSeek's checkpoint rows; ERNIE 4.5's rotation)
  int n_group = 1;
  int topk_group = 1;
  int n_shared_experts = 0;  // ungated shared experts, n × moe_intermediate_size wide (DeepSeek, GLM-4.5, ERNIE 4.5)
  double routed_scaling_factor = 1.0;
  bool mla_softmax_mscale = false;  // DeepSeek-V3 (not V2): softmax scale × yarn_mscale(factor, mscale_all_dim)²

  Quantization quantization;  // how the checkpoint stores its weights

  // Llama 4: NoPE layers, chunked local attention, attention temperature on NoPE layers
  std::vector<bool> rope_layer;     // per model layer: RoPE (true) or none (NoPE)
  std::vector<bool> chunked_layer;  // per model layer: a query sees only keys of its own chunk
  int attention_chunk_size = 0;     // positions per chunk (chunked layers)
  bool attn_temperature_tuning = false;  // NoPE layers: q × (1 + attn_scale·ln(1 + floor((p + 1) / floor_scale)))
  double floor_scale = 0;
  double attn_scale = 0;

  std::vector<int> moe_layer_indices() const;  // model layer index of each MoE layer
};

// Reads DIR/config.json. Throws moesim::InputError naming the file and the field.
ModelConfig load_config(const std::filesystem::path& model_dir);

// The architectures load_config understands, for help texts and errors.
const std::vector<std::string>& supported_model_types();

}  // namespace moesim::model
