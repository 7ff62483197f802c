// Quantized weight formats against hand-worked values (bit patterns decoded by hand from the
// e4m3fn / e2m1 / e8m0 definitions in the OCP 8-bit floating point and Microscaling specifications).
#include "doctest_torch.hpp"

#include <cmath>

#include "dequantize.hpp"

using namespace moesim::model;

namespace {
at::Tensor bytes(std::vector<std::uint8_t> v, std::vector<int64_t> shape) {
  return at::from_blob(v.data(), shape, at::kByte).clone();
}
}  // namespace

TEST_CASE("fp8 e4m3fn: normal, subnormal, largest, negative, NaN") {
  // 0x38: exponent 7 (bias 7), mantissa 0 → 1.0; 0x3C: 1 + 4/8 = 1.5; 0x7E: 2^8 · 1.75 = 448 (largest);
  // 0x01: subnormal 2^-6 · 1/8 = 2^-9; 0xC0: −2^(8−7) = −2; 0x7F: NaN (e4m3fn has no infinity).
  at::Tensor v = fp8_e4m3_to_float(bytes({0x38, 0x3C, 0x7E, 0x01, 0xC0, 0x00, 0x7F}, {7}));
  auto a = v.accessor<float, 1>();
  CHECK(a[0] == 1.0f);
  CHECK(a[1] == 1.5f);
  CHECK(a[2] == 448.0f);
  CHECK(a[3] == std::ldexp(1.0f, -9));
  CHECK(a[4] == -2.0f);
  CHECK(a[5] == 0.0f);
  CHECK(std::isnan(a[6]));
}

TEST_CASE("fp8 blocks: one scale per block, partial blocks at the right and bottom edges") {
  // A 3x3 matrix of 1.0 (0x38) in 2x2 blocks: scales [[1, 2], [3, 4]] cover rows 0-1 / 2 and cols 0-1 / 2.
  at::Tensor bits = bytes(std::vector<std::uint8_t>(9, 0x38), {3, 3});
  at::Tensor scale = at::tensor(std::vector<float>{1, 2, 3, 4}).view({2, 2});
  at::Tensor w = dequantize_fp8_blocks(bits, scale, 2, 2);
  at::Tensor want = at::tensor(std::vector<float>{1, 1, 2, 1, 1, 2, 3, 3, 4}).view({3, 3});
  CHECK(at::equal(w, want));
}

TEST_CASE("fp8 blocks: a block larger than the matrix costs the matrix's size, not the block's") {
  // weight_block_size may be as large as 2^24 (config.json's size limit): one partial block whose
  // scale covers everything, without repeating the scale 2^24 x 2^24 times on the way.
  constexpr int kLargestBlock = 1 << 24;
  at::Tensor bits = bytes(std::vector<std::uint8_t>(6, 0x38), {2, 3});
  at::Tensor w = dequantize_fp8_blocks(bits, at::full({1, 1}, 2.0f), kLargestBlock, kLargestBlock);
  CHECK(at::equal(w, at::full({2, 3}, 2.0f)));
}

TEST_CASE("mxfp4: low nibble first, e8m0 scale 2^(s-127)") {
  // One row of one block: bytes 0x21 → (0.5, 1.0), 0xF7 → (6.0, -6.0), the other 14 bytes 0 → zeros;
  // scale 128 → × 2.
  std::vector<std::uint8_t> b(16, 0);
  b[0] = 0x21;
  b[1] = 0xF7;
  at::Tensor w = dequantize_mxfp4(bytes(b, {1, 1, 16}), bytes({128}, {1, 1}));  // (1, 32)
  REQUIRE(w.sizes() == at::IntArrayRef({1, 32}));
  auto a = w.accessor<float, 2>();
  CHECK(a[0][0] == 1.0f);
  CHECK(a[0][1] == 2.0f);
  CHECK(a[0][2] == 12.0f);
  CHECK(a[0][3] == -12.0f);
  CHECK(a[0][4] == 0.0f);
  // Scale 125 → × 1/4, leading expert axis kept.
  at::Tensor q = dequantize_mxfp4(bytes(b, {1, 1, 1, 16}), bytes({125}, {1, 1, 1}));
  CHECK(q.sizes() == at::IntArrayRef({1, 1, 32}));
  CHECK(q[0][0][1].item<float>() == 0.25f);
}

TEST_CASE("mxfp4: expert e alone equals slice e of the whole stack, transposed, in any dtype") {
  // Random bytes over the whole code range, scales around 2^0 (121..133) and the extremes 0 and 254.
  constexpr int64_t E = 3, R = 5, G = 2;
  at::manual_seed(7);
  at::Tensor blocks = at::randint(0, 256, {E, R, G, kMxfp4BlockBytes}, at::kByte);
  at::Tensor scales = at::randint(121, 134, {E, R, G}, at::kByte);
  scales[1][0][0] = 0;
  scales[2][4][1] = 254;
  at::Tensor all = dequantize_mxfp4(blocks, scales);  // (E, R, 32·G)
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16})
    for (int64_t e = 0; e < E; ++e) {
      at::Tensor one = dequantize_mxfp4_expert(blocks, scales, e, dtype);  // (32·G, R)
      CHECK(one.sizes() == at::IntArrayRef({G * kMxfp4BlockValues, R}));
      CHECK(one.is_contiguous());
      CHECK((one.scalar_type() == dtype));  // parenthesised: doctest cannot print a ScalarType
      CHECK(at::equal(one, all[e].transpose(0, 1).to(dtype)));
    }
}
