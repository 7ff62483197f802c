#pragma once
// Quantized weights as checkpoints ship them, turned into float32 values on the device that will
// hold them (so a GPU-bound weight crosses the bus at its quantized size). Internal to model/.
//
//   FP8 blocks (DeepSeek-V3's fp8_cast_bf16.py / weight_dequant, transformers' FineGrainedFP8):
//     w[i, j] = e4m3(bits[i, j]) · scale_inv[i / br, j / bc]; edge blocks are partial (the last
//     block row/column covers what is left of the matrix).
//   MXFP4 (OCP Microscaling Formats v1.0; transformers' integrations/mxfp4.py convert_moe_packed_tensors):
//     each byte holds two e2m1 values, low nibble first; 32 values (16 bytes) share one e8m0 scale
//     2^(scale − 127). blocks (..., R, C/32, 16), scales (..., R, C/32) → (..., R, C).
#include <ATen/ATen.h>

#include <cstdint>

namespace moesim::model {

// MXFP4's block: 32 values share one scale, packed two to a byte.
inline constexpr std::int64_t kMxfp4BlockValues = 32;
inline constexpr std::int64_t kMxfp4BlockBytes = kMxfp4BlockValues / 2;

// float8_e4m3fn bits (uint8, any shape) → float32: no infinities, 0x7F/0xFF are NaN, largest 448.
at::Tensor fp8_e4m3_to_float(const at::Tensor& bits);

// bits (rows, cols) uint8, scale_inv (⌈rows/br⌉, ⌈cols/bc⌉) float → (rows, cols) float32.
at::Tensor dequantize_fp8_blocks(const at::Tensor& bits, const at::Tensor& scale_inv, int block_rows, int block_cols);

// blocks (..., R, G, 16) uint8, scales (..., R, G) uint8 → (..., R, 32·G) float32. Device-side
// ATen ops only (CPU or CUDA), on any slice (one expert of a stack).
at::Tensor dequantize_mxfp4(const at::Tensor& blocks, const at::Tensor& scales);

// Expert e of a stack kept quantized (--mxfp4 keep): blocks (E, R, G, 16), scales (E, R, G) → (32·G, R)
// in `dtype`, contiguous, i.e. transposed to transformers' (in, out) layout exactly as the loader
// dequantizes the whole stack, so that a forward pass sees the same tensor either way.
at::Tensor dequantize_mxfp4_expert(const at::Tensor& blocks, const at::Tensor& scales, std::int64_t e,
                                   at::ScalarType dtype);

}  // namespace moesim::model
