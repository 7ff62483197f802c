#include "dequantize.hpp"

#include <array>
#include <cmath>
#include <limits>

namespace moesim::model {
namespace {

constexpr int kE4m3ExponentBias = 7;
constexpr int kE4m3MantissaBits = 3;
constexpr int kE8m0Bias = 127;

// The 256 values of float8_e4m3fn ("fn": finite, one NaN pattern per sign, no infinities).
float e4m3_value(unsigned bits) {
  const float sign = (bits & 0x80u) ? -1.0f : 1.0f;
  const unsigned exponent = (bits >> kE4m3MantissaBits) & 0xFu;
  const unsigned mantissa = bits & 0x7u;
  if (exponent == 0xFu && mantissa == 0x7u) return std::numeric_limits<float>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa) / 8.0f, 1 - kE4m3ExponentBias);  // subnormal
  return sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, static_cast<int>(exponent) - kE4m3ExponentBias);
}

// int32 indices: a quarter of int64's bytes for a temporary as large as the weight.
at::Tensor lookup(const at::Tensor& table, const at::Tensor& codes) {
  return table.to(codes.device()).index_select(0, codes.flatten().to(at::kInt)).view(codes.sizes());
}

}  // namespace

at::Tensor fp8_e4m3_to_float(const at::Tensor& bits) {
  static const at::Tensor table = [] {
    std::array<float, 256> v{};
    for (unsigned b = 0; b < v.size(); ++b) v[b] = e4m3_value(b);
    return at::from_blob(v.data(), {256}, at::kFloat).clone();
  }();
  return lookup(table, bits);
}

at::Tensor dequantize_fp8_blocks(const at::Tensor& bits, const at::Tensor& scale_inv, int block_rows, int block_cols) {
  // Each row and column looks up its block's scale: the temporaries are the matrix's size whatever
  // the block size (repeating every scale block_rows × block_cols times would allocate 2^48 floats
  // for weight_block_size [16777216, 16777216], which config.json may say).
  const at::TensorOptions indices = at::TensorOptions().dtype(at::kLong).device(bits.device());
  const at::Tensor row_block = at::arange(bits.size(0), indices).div(block_rows, "floor");  // (rows)
  const at::Tensor col_block = at::arange(bits.size(1), indices).div(block_cols, "floor");  // (cols)
  const at::Tensor scale =
      scale_inv.to(bits.device(), at::kFloat).index_select(0, row_block).index_select(1, col_block);  // (rows, cols)
  return fp8_e4m3_to_float(bits) * scale;
}

at::Tensor dequantize_mxfp4(const at::Tensor& blocks, const at::Tensor& scales) {
  static const at::Tensor e2m1 = at::tensor(
      std::vector<float>{0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f});
  // The nibbles as uint8 codes first and one lookup after: the float32 temporaries are the result's
  // size once, not three times (this runs per expert and forward pass under --mxfp4 keep).
  at::Tensor codes = at::stack({at::bitwise_and(blocks, 0x0F), at::bitwise_right_shift(blocks, 4)}, -1)
                         .flatten(-2);                                    // (..., R, G, 32) low nibble first
  at::Tensor exponent = scales.to(at::kInt) - kE8m0Bias;                   // (..., R, G)
  at::Tensor values = at::ldexp(lookup(e2m1, codes), exponent.unsqueeze(-1));  // × 2^exponent, exact
  auto shape = blocks.sizes().vec();
  shape.pop_back();
  shape.back() *= kMxfp4BlockValues;
  return values.reshape(shape);                                           // (..., R, 32·G)
}

at::Tensor dequantize_mxfp4_expert(const at::Tensor& blocks, const at::Tensor& scales, std::int64_t e,
                                   at::ScalarType dtype) {
  const std::int64_t rows = blocks.size(1), cols = blocks.size(2) * kMxfp4BlockValues;
  at::Tensor out = at::empty({cols, rows}, blocks.options().dtype(dtype));  // (in, out)
  return out.copy_(dequantize_mxfp4(blocks[e], scales[e]).transpose(0, 1));
}

}  // namespace moesim::model
