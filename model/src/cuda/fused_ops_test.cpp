// The fused GPU kernels against the ATen sequences they replace (fused_ops.hpp): the same bits for
// silu_mul, rope and combine_experts (k ≤ 2), at most one unit in the last place for rms_norm (another summation order), and
// causal attention without a bias equal to attention with the causal bias. Needs a CUDA device: built
// with moesim-gpu (model/gpu/CMakeLists.txt) and run on the GPU machine
// (scripts/gpu/model_scale_checks.sh bench).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "../doctest_torch.hpp"

#include <c10/core/InferenceMode.h>

#include "../fused_ops.hpp"
#include "../layers.hpp"

using namespace moesim::model;

namespace {

const at::ScalarType kTypes[] = {at::kBFloat16, at::kHalf, at::kFloat};

at::Tensor cuda_randn(at::IntArrayRef shape, at::ScalarType t, double scale = 1.0) {
  return (at::randn(shape, at::TensorOptions().dtype(at::kFloat)) * scale).to(at::kCUDA, t);
}

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.to(at::kFloat).eq(b.to(at::kFloat)).all().item<bool>();
}

}  // namespace

TEST_CASE("fused silu_mul: the bits of at::silu then at::mul") {
  c10::InferenceMode guard;
  at::manual_seed(1);
  for (at::ScalarType t : kTypes) {
    CAPTURE(t);
    at::Tensor gate = cuda_randn({7, 1001}, t, 4.0), up = cuda_randn({7, 1001}, t, 4.0);
    REQUIRE(fused::applies(gate));
    CHECK(same_bits(fused::silu_mul(gate, up), at::silu(gate) * up));
  }
}

TEST_CASE("fused silu_mul on the two halves of one (n, 2I) product, read in place") {
  c10::InferenceMode guard;
  at::manual_seed(4);
  for (at::ScalarType t : kTypes)
  for (int64_t I : {333, 336}) {  // 336: 16-byte loads (packs_fit); 333: one value a thread
    CAPTURE(t);
    CAPTURE(I);
    at::Tensor gate_up = cuda_randn({5, 2 * I}, t, 4.0);                       // (n, 2I) rows of stride 2I
    at::Tensor gate = gate_up.narrow(1, 0, I), up = gate_up.narrow(1, I, I);
    REQUIRE_FALSE(gate.is_contiguous());
    at::Tensor fused_out = fused::silu_mul(gate, up);
    CHECK(fused_out.is_contiguous());
    CHECK(same_bits(fused_out, at::silu(gate) * up));
    // A transposed view has no unit column stride: copied first, the same bits.
    at::Tensor a = cuda_randn({6, 4}, t).t(), b = cuda_randn({6, 4}, t).t();
    CHECK(same_bits(fused::silu_mul(a, b), at::silu(a) * b));
  }
}

TEST_CASE("fused rope: the bits of x cos + rotate_half(x) sin on a transposed view") {
  c10::InferenceMode guard;
  at::manual_seed(2);
  const int64_t B = 2, S = 9, heads = 3, d = 16;
  for (at::ScalarType t : kTypes) {
    CAPTURE(t);
    at::Tensor x = cuda_randn({B, S, heads, d}, t).transpose(1, 2);  // (B, h, S, d), as q and k are
    at::Tensor positions = at::arange(S, at::TensorOptions().dtype(at::kLong)).repeat({B, 1}).to(at::kCUDA);
    layers::RopeTables rope = layers::rope_tables(positions, d, 10000.0, {}, t);
    at::Tensor cos = rope.cos.unsqueeze(1), sin = rope.sin.unsqueeze(1);
    at::Tensor rotated = at::cat({-x.narrow(-1, d / 2, d / 2), x.narrow(-1, 0, d / 2)}, -1);
    CHECK(same_bits(fused::rope(x, rope.cos, rope.sin), x * cos + rotated * sin));
  }
}

TEST_CASE("fused rms_norm: within one unit in the last place of ATen's sequence (16-bit types)") {
  c10::InferenceMode guard;
  at::manual_seed(3);
  // float32 is left out: layers::rms_norm keeps ATen's sequence there (fused_ops.hpp says why).
  for (at::ScalarType t : {at::kBFloat16, at::kHalf}) {
    CAPTURE(t);
    at::Tensor x = cuda_randn({33, 2048}, t, 3.0), w = cuda_randn({2048}, t);
    at::Tensor xf = x.to(at::kFloat);
    at::Tensor reference = w * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + 1e-5)).to(t);
    at::Tensor fused_out = fused::rms_norm(x, w, 1e-5);
    // One unit in the last place of each reference value, in its dtype (at least the smallest normal).
    const double eps = t == at::kHalf ? 9.8e-4 : 7.9e-3;
    at::Tensor ulp = reference.to(at::kFloat).abs().clamp_min(1e-30) * eps;
    at::Tensor diff = (fused_out.to(at::kFloat) - reference.to(at::kFloat)).abs();
    CHECK((diff <= ulp).all().item<bool>());
    const double differing = diff.gt(0).to(at::kFloat).mean().item<double>();
    MESSAGE("dtype " << t << ": " << differing * 100 << " % of elements differ by one unit in the last place");
    CHECK(differing < 0.01);
  }
}

TEST_CASE("fused combine_experts: index_select, mul_ by the gates and sum over k, in one pass") {
  c10::InferenceMode guard;
  at::manual_seed(5);
  const int64_t tokens = 37;
  for (at::ScalarType t : kTypes)
  for (int64_t H : {264, 263})  // 264: 16-byte loads; 263: one value a thread
  for (int64_t k : {1, 2, 8}) {
    CAPTURE(t);
    CAPTURE(H);
    CAPTURE(k);
    at::Tensor ys = cuda_randn({tokens * k, H}, t, 2.0);                        // (P, H) sorted by expert
    at::Tensor rows = at::randperm(tokens * k, at::TensorOptions().dtype(at::kLong)).to(at::kCUDA);  // (T·k)
    at::Tensor gates = cuda_randn({tokens, k}, t);                              // (T, k)
    at::Tensor per_token = ys.index_select(0, rows).view({tokens, k, H});       // (T, k, H)
    at::Tensor weighted = (per_token * gates.unsqueeze(2)).sum(1), unweighted = per_token.sum(1);
    at::Tensor fused_weighted = fused::combine_experts(ys, rows, gates, k);
    at::Tensor fused_unweighted = fused::combine_experts(ys, rows, at::Tensor(), k);
    if (k <= 2) {  // one order of the float sum: ATen's bits
      CHECK(same_bits(fused_weighted, weighted));
      CHECK(same_bits(fused_unweighted, unweighted));
    } else {  // another order of the float sum: k float roundings of Σ|terms| plus one of the dtype
      const double eps = t == at::kFloat ? 1.2e-7 : t == at::kHalf ? 9.8e-4 : 7.9e-3;
      const double bound = eps + static_cast<double>(k) * 1.2e-7;
      at::Tensor weighted_terms = (per_token * gates.unsqueeze(2)).to(at::kFloat).abs().sum(1);
      at::Tensor unweighted_terms = per_token.to(at::kFloat).abs().sum(1);
      CHECK(((fused_weighted.to(at::kFloat) - weighted.to(at::kFloat)).abs() <= weighted_terms * bound).all().item<bool>());
      CHECK(((fused_unweighted.to(at::kFloat) - unweighted.to(at::kFloat)).abs() <= unweighted_terms * bound).all().item<bool>());
    }
  }
}

TEST_CASE("causal attention without a bias equals attention with the causal bias") {
  c10::InferenceMode guard;
  at::manual_seed(4);
  const int64_t B = 2, S = 64, h = 8, g = 2, d = 64;
  at::Tensor valid = at::ones({B, S}, at::TensorOptions().dtype(at::kBool).device(at::kCUDA));
  REQUIRE(layers::causal_without_bias(valid));
  for (at::ScalarType t : {at::kFloat, at::kBFloat16}) {
    CAPTURE(t);
    at::Tensor q = cuda_randn({B, h, S, d}, t), k = cuda_randn({B, g, S, d}, t), v = cuda_randn({B, g, S, d}, t);
    at::Tensor with_bias = layers::attention(q, k, v, layers::attention_bias(valid, t), 0.125);
    at::Tensor causal = layers::attention(q, k, v, at::Tensor(), 0.125);
    const double tolerance = t == at::kFloat ? 1e-5 : 2e-2;
    CHECK((causal.to(at::kFloat) - with_bias.to(at::kFloat)).abs().max().item<double>() <= tolerance);
  }
  at::Tensor padded = valid.clone();
  padded[0][0] = false;
  CHECK_FALSE(layers::causal_without_bias(padded));
}
