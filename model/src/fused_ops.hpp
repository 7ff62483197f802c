#pragma once
// Fused GPU kernels for the memory-bound steps of the forward pass (model/src/cuda/, compiled where
// the GPU build finds nvcc; fused_ops_none.cpp elsewhere). Each kernel reads its inputs once and
// writes its output once where the ATen sequence it replaces in layers.cpp makes 3–7 passes over
// memory, and it rounds to the tensor's dtype at every step where that sequence does, so its bits
// are the sequence's bits:
//   silu_mul  silu(gate) ⊙ up                       (at::silu, then at::mul)
//   rope      x ⊙ cos + rotate_half(x) ⊙ sin        (layers::apply_rope, rot_dim = head dim)
//   rms_norm  w ⊙ (x · rsqrt(mean(x²) + eps))       (layers::rms_norm)
//   combine_experts  Σ_j gate_j ⊙ ys[row_j]         (index_select, mul_, sum: layers::dispatch_experts)
// except rms_norm's sum of squares, which is reduced in another order (float32), so its output can
// differ from ATen's in the last bit. layers::rms_norm calls it for bfloat16 and float16 only: there
// the final rounding hides the other order (0 % of elements differed on an H100), while in float32
// the two roundings after the sum left elements more than one unit apart (fused_ops_test, H100,
// 2026-12-05), and float32 runs are the ones kept for parity. Internal to model/ (includes ATen).
#include <ATen/ATen.h>

namespace moesim::model::fused {

// Whether the kernels can run on x: this build has them, x is on a CUDA device, its dtype is
// float32, float16 or bfloat16, and no gradient is recorded (inference or no-grad mode: the kernels
// have no backward). Callers fall back to the ATen sequence otherwise.
bool applies(const at::Tensor& x);

// gate, up: the same shape → silu(gate) ⊙ up, contiguous. 2-D inputs with unit column stride are
// read where they lie (the two halves of the experts' (n, 2I) gate_up product); others are copied
// contiguous first.
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);

// x (B, heads, S, d) with stride 1 along d (any other strides: q and k are transposed views);
// cos, sin (B, S, d) contiguous, x's dtype → x rotated in the "halves" layout, x's memory layout.
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// ys (P, H) contiguous, row_of_pair (T·k) int64: the row of ys holding each (token, slot) pair's
// expert output, gates (T, k) contiguous of ys's dtype or undefined (already applied) → (T, H),
// out[t] = Σ_j gates[t, j] · ys[row_of_pair[t·k + j]]: each product rounded to the dtype, the sum
// in float in j order, rounded once (for k > 2 possibly another last bit than ATen's sum).
at::Tensor combine_experts(const at::Tensor& ys, const at::Tensor& row_of_pair, const at::Tensor& gates,
                           std::int64_t k);

// x (..., n) contiguous, weight (n) of x's dtype → weight ⊙ (x / sqrt(mean(x²) + eps)) with the
// normalised x rounded to x's dtype before the weight multiplies it (transformers' RMSNorm).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace moesim::model::fused
