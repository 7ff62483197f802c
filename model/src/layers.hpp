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

#include "moesim/model/config.hpp"

namespace moesim::model::layers {

// y = w ⊙ x / sqrt(mean(x²) + eps), computed in float32 and cast back like transformers' RMSNorm.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// x · wᵀ (+ b): nn.Linear.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// cos/sin tables (B, S, rot_dim) for positions (B, S), in float32 then cast to dtype.
struct RopeTables {
  at::Tensor cos, sin;
};
RopeTables rope_tables(const at::Tensor& positions, int rot_dim, double theta, const RopeScaling& scaling,
                       at::ScalarType dtype);
// The inverse frequencies (rot_dim/2, float32) and the factor on cos/sin of a RoPE type, computed as
// transformers' ROPE_INIT_FUNCTIONS do (float32 tensors, scalars in double).
struct RopeFrequencies {
  at::Tensor inv_freq;
  double attention_factor = 1.0;
};
RopeFrequencies rope_frequencies(int rot_dim, double theta, const RopeScaling& scaling);
// x (B, heads, S, rot_dim) rotated in the "halves" layout (rotate_half).
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& rope);
// DeepSeek's interleaved layout (pairs (x0,x1),(x2,x3),...) reordered to halves before apply_rope.
at::Tensor deinterleave(const at::Tensor& x);

// Positions of left-padded sequences: 0 at each sequence's first real token. valid (B, S) bool.
at::Tensor positions_from_mask(const at::Tensor& valid);
// Additive mask (B, 1, S, S): 0 where query i may see key j (j ≤ i and j real), dtype's lowest
// value elsewhere (finite, so rows of padding stay NaN-free).
at::Tensor attention_bias(const at::Tensor& valid, at::ScalarType dtype);

// softmax(q kᵀ · scale + bias) v with key/value heads shared by h/g query heads.
// q (B, h, S, d), k (B, g, S, d), v (B, g, S, dv) → (B, S, h·dv)
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                     double scale);

// down(silu(gate(x)) ⊙ up(x)): the SwiGLU MLP of dense layers and shared experts.
struct MlpWeights {
  at::Tensor gate, up, down;  // (I, H), (I, H), (H, I)
};
at::Tensor swiglu(const at::Tensor& x, const MlpWeights& w);

// Routed experts stacked along a leading expert axis.
struct ExpertWeights {
  at::Tensor gate, up, down;  // (E, I, H), (E, I, H), (E, H, I)
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
// once on its contiguous block, results are weighted and scattered back with index_add. x (T, H) → (T, H).
at::Tensor moe_experts(const at::Tensor& x, const Routing& routing, const ExpertWeights& w,
                       GateAt gate_at = GateAt::kOutput);

}  // namespace moesim::model::layers
