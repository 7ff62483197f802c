#pragma once
// The building blocks every architecture file composes: norms, RoPE, masked attention, SwiGLU,
// routers and the vectorised expert dispatch. Internal to model/ (includes ATen).
//
// Dimension letters used in shape comments throughout model/:
//   B batch   S sequence (padded)   T tokens = B·S   H hidden   V vocabulary
//   h query heads   g key/value heads   d head dim   E routed experts   k experts per token
//   I expert (or MLP) intermediate size
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <utility>

#include "moesim/model/config.hpp"

namespace moesim::model::layers {

// y = w ⊙ x / sqrt(mean(x²) + eps), computed in float32 and cast back like transformers' RMSNorm.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// (x - mean) / sqrt(var + eps) · w + b over the last axis: nn.LayerNorm (Phi-3.5-MoE).
at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

// x · wᵀ (+ b): nn.Linear.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// cos/sin tables (B, S, rot_dim) for positions (B, S), in float32 then cast to dtype.
struct RopeTables {
  at::Tensor cos, sin;
};
// LongRoPE picks its factors by the batch's largest position + 1 (one device → host copy).
RopeTables rope_tables(const at::Tensor& positions, int rot_dim, double theta, const RopeScaling& scaling,
                       at::ScalarType dtype);
// The inverse frequencies (rot_dim/2, float32) and the factor on cos/sin of a RoPE type, computed as
// transformers' ROPE_INIT_FUNCTIONS do (float32 tensors, scalars in double).
struct RopeFrequencies {
  at::Tensor inv_freq;
  double attention_factor = 1.0;
};
// seq_len: the batch's largest position + 1, read by LongRoPE only (long factors when it exceeds
// original_max_position_embeddings).
RopeFrequencies rope_frequencies(int rot_dim, double theta, const RopeScaling& scaling, std::int64_t seq_len = 0);
// x (B, heads, S, d) with its first rot_dim dims rotated in the "halves" layout (rotate_half) and
// the other d − rot_dim passed through unchanged (partial rotary, GLM-4.5).
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& rope);
// DeepSeek's interleaved layout (pairs (x0,x1),(x2,x3),...) reordered to halves before apply_rope.
at::Tensor deinterleave(const at::Tensor& x);

// Positions of left-padded sequences: 0 at each sequence's first real token. valid (B, S) bool.
at::Tensor positions_from_mask(const at::Tensor& valid);
// Additive mask (B, 1, S, S): 0 where query i may see key j (j ≤ i and j real), dtype's lowest
// value elsewhere (finite, so rows of padding stay NaN-free). With sliding_window > 0 key j must
// also lie fewer than sliding_window positions back: i - j < sliding_window, the query itself
// included (transformers' masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window).
at::Tensor attention_bias(const at::Tensor& valid, at::ScalarType dtype, int sliding_window = 0);

// Whether attention may run without the bias, causal in the kernel: valid (B, S) on CUDA with every
// position real (no padding) and a LibTorch whose sdpa shares key/value heads (≥ 2.5). One device →
// host copy. The flash kernels then compute only the unmasked half of q kᵀ.
bool causal_without_bias(const at::Tensor& valid);

// softmax(q kᵀ · scale + bias) v with key/value heads shared by h/g query heads; bias undefined =
// causal over all S positions (only where causal_without_bias() said so, and without sinks).
// q (B, h, S, d), k (B, g, S, d), v (B, g, S, dv) → (B, S, h·dv)
// sinks (h), gpt-oss: one more logit per head joins each row's softmax and is dropped after it, so
// a row's weights sum to less than 1 (eager_attention_forward in modeling_gpt_oss.py).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                     double scale, const at::Tensor& sinks = {});

// silu(gate) ⊙ up, in one fused kernel on CUDA (fused_ops.hpp), the same bits as ATen's two ops.
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);

// down(silu(gate(x)) ⊙ up(x)): the SwiGLU MLP of dense layers and shared experts.
struct MlpWeights {
  at::Tensor gate, up, down;                 // (I, H), (I, H), (H, I)
  at::Tensor gate_bias, up_bias, down_bias;  // (I), (I), (H); undefined without biases (all but ERNIE 4.5)
};
at::Tensor swiglu(const at::Tensor& x, const MlpWeights& w);

// Routed experts stacked along a leading expert axis.
struct ExpertWeights {
  at::Tensor gate, up, down;  // (E, I, H), (E, I, H), (E, H, I)
  // (E, 2I, H) whose two halves along dim 1 ARE gate and up (views; loaded checkpoints, not fresh
  // training weights): without autograd both projections are then one product per expert.
  at::Tensor gate_up;
  std::int64_t bytes() const;  // held in memory (gate_up is gate and up, counted once)
};

// The routing decision of one MoE layer for T tokens.
struct Routing {
  at::Tensor expert_ids;    // (T, k) int64, column 0 the largest gate; −1 = empty slot (strategies/)
  at::Tensor gates;         // (T, k) float32, the weights the expert outputs are summed with
  at::Tensor router_probs;  // (T, E) float32: softmax (or sigmoid) scores before selection
  at::Tensor logits;        // (T, E) the router's raw logits (training: z-loss)
};

// softmax over E, top-k, optionally renormalised to sum 1 (Mixtral, Qwen, OLMoE).
Routing softmax_topk(const at::Tensor& logits, int k, bool renormalize);

// ERNIE 4.5: softmax scores; selection on scores + bias; gates are the unbiased scores divided by
// their sum, the sum clamped below at norm_min.
Routing softmax_biased_topk(const at::Tensor& logits, const at::Tensor& bias, int k, double norm_min);

// gpt-oss (GptOssTopKRouter): the top-k logits, softmax over those k only; router_probs the softmax
// over all E (whose renormalised top-k equals the gates).
Routing topk_softmax(const at::Tensor& logits, int k);

// Phi-3.5-MoE's sparsemixer at inference (modeling_phimoe.py), always 2 experts:
//   round 1: e1 = argmax s; experts with (s[e1] - s) / max(|s|, s[e1]) > 2·eps are masked to −inf;
//            gate 1 = softmax(masked)[e1]
//   round 2: s' = s with e1 at −inf, e2 = argmax s'; the same threshold around s'[e2] (the divisor
//            still max(|s|, s'[e2]) of the unmasked s); gate 2 = softmax(masked s')[e2]
// Gates are not renormalised; they are returned largest first (gate 2 can exceed gate 1).
Routing sparsemixer(const at::Tensor& logits, double jitter_eps);

// DeepSeek-V3: sigmoid scores; selection on scores + bias restricted to the topk_group groups with
// the best (top-2 sum) scores; gates are the unbiased scores, optionally renormalised, × scale.
struct GroupLimitedOptions {
  int k = 0, n_group = 1, topk_group = 1;
  bool renormalize = true;
  double scaling = 1.0;
};
Routing sigmoid_group_limited(const at::Tensor& logits, const at::Tensor& bias, const GroupLimitedOptions& o);

// DeepSeek-V2: softmax scores; with n_group > 1 selection is restricted to the topk_group groups
// whose best single score is highest (the others' scores masked to 0, as transformers does);
// gates are the chosen scores, optionally renormalised, × scale.
Routing softmax_group_limited(const at::Tensor& logits, const GroupLimitedOptions& o);

// Where `values` (T = B·S rows in (B, S) order, any trailing shape) holds NaN or ±Inf, "<what>: NaN
// at sequence b, position s (of S, left-padded)" for the first such row; empty when all are finite.
// One device → host copy when finite; the search for the first bad row runs only on failure.
std::string first_non_finite(const at::Tensor& values, std::int64_t seq_len, const std::string& what);

// Where an expert's gate multiplies: its output (everyone) or its input (Llama 4, whose SwiGLU
// experts are then not linear in the gate).
enum class GateAt { kOutput, kInput };

// Σ_j gates[t, j] · expert_{ids[t, j]}(x[t]) (or expert(gates[t, j] · x[t]) with GateAt::kInput)
// without a loop over tokens: the T·k (token, expert) pairs are sorted by expert, each expert runs
// once on its contiguous block, and each token gathers, weights and sums its k results (one kernel
// on CUDA: fused::combine_experts). x (T, H) → (T, H).
at::Tensor moe_experts(const at::Tensor& x, const Routing& routing, const ExpertWeights& w,
                       GateAt gate_at = GateAt::kOutput);

// A stack of E expert matrices (E, in, out), either as floats in the model dtype or, under --mxfp4
// keep, as the checkpoint's MXFP4 bytes (blocks (E, out, in/32, 16), scales (E, out, in/32), uint8)
// of which an expert is dequantized only when it receives tokens, right before its matmul.
struct ExpertMatrices {
  ExpertMatrices() = default;
  explicit ExpertMatrices(at::Tensor dense_experts) : dense(std::move(dense_experts)) {}
  at::Tensor dense;                   // (E, in, out); undefined when quantized
  at::Tensor blocks, scales;          // MXFP4 as stored; undefined when dense
  at::ScalarType dtype = at::kFloat;  // what the quantized experts decode to (the model dtype)
  bool defined() const { return dense.defined() || blocks.defined(); }
  bool quantized() const { return blocks.defined(); }
  std::int64_t num_experts() const { return quantized() ? blocks.size(0) : dense.size(0); }
  // Expert e's (in, out) matrix in the model dtype: a view of `dense`, or a fresh dequantized copy.
  at::Tensor expert(std::int64_t e) const;
  // Bytes held in memory (blocks + scales when quantized).
  std::int64_t bytes() const;
};

// gpt-oss's experts as transformers stores them, fused and biased.
struct FusedExpertWeights {
  ExpertMatrices gate_up;   // (E, H, 2I) gate and up interleaved along the last axis: gate 0::2, up 1::2
  at::Tensor gate_up_bias;  // (E, 2I), interleaved the same way
  ExpertMatrices down;      // (E, I, H)
  at::Tensor down_bias;     // (E, H)
  std::int64_t bytes() const;  // held in memory, biases included
};
// The same dispatch with GptOssExperts' clamped SwiGLU per expert:
//   gate_up = x · gate_up[e] + b;  gate = min(gate, limit);  up = clamp(up, −limit, limit)
//   out = ((up + 1) ⊙ gate ⊙ σ(alpha · gate)) · down[e] + down_bias[e]
at::Tensor clamped_swiglu_experts(const at::Tensor& x, const Routing& routing, const FusedExpertWeights& w,
                                  double alpha, double limit);

}  // namespace moesim::model::layers
