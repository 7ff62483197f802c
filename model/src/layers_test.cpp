// Building blocks on hand-worked cases: routers, masks, RoPE layout, and the vectorised expert
// dispatch against a plain per-token loop.
#include "layers.hpp"
#include "network.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace moesim::model;

namespace {
at::Tensor floats(std::vector<float> v, std::vector<int64_t> shape) {
  return at::tensor(v, at::kFloat).reshape(shape);
}
std::vector<int64_t> ints(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}
}  // namespace

TEST_CASE("softmax_topk: probabilities, order and renormalisation on a hand-worked row") {
  // logits ln(1), ln(2), ln(3), ln(4): softmax = 0.1, 0.2, 0.3, 0.4
  at::Tensor logits = floats({0.f, std::log(2.f), std::log(3.f), std::log(4.f)}, {1, 4});
  auto plain = layers::softmax_topk(logits, 2, false);
  CHECK(ints(plain.expert_ids) == std::vector<int64_t>{3, 2});
  CHECK(plain.gates[0][0].item<float>() == doctest::Approx(0.4));
  CHECK(plain.gates[0][1].item<float>() == doctest::Approx(0.3));
  auto renorm = layers::softmax_topk(logits, 2, true);
  CHECK(renorm.gates[0][0].item<float>() == doctest::Approx(4.0 / 7.0));
  CHECK(renorm.router_probs[0][1].item<float>() == doctest::Approx(0.2));
}

TEST_CASE("sigmoid_group_limited: the bias steers selection only, groups limit it, gates are scaled") {
  // 4 experts in 2 groups {0,1} {2,3}; sigmoid scores chosen directly through their logits.
  auto logit = [](double p) { return static_cast<float>(std::log(p / (1 - p))); };
  at::Tensor logits = floats({logit(0.9), logit(0.2), logit(0.6), logit(0.5)}, {1, 4});
  layers::GroupLimitedOptions o{2, 2, 1, false, 2.5};
  // Biased scores 0.9 0.2 | 0.9 0.8: group {2,3} scores 1.7 (top-2 sum), group {0,1} 1.1.
  at::Tensor bias = floats({0.f, 0.f, 0.3f, 0.3f}, {4});
  auto r = layers::sigmoid_group_limited(logits, bias, o);
  // Expert 0 has the best score (0.9) but lives in the losing group: excluded.
  CHECK(ints(r.expert_ids) == std::vector<int64_t>{2, 3});
  // Gates are the unbiased scores × routed_scaling_factor, largest first.
  CHECK(r.gates[0][0].item<float>() == doctest::Approx(0.6 * 2.5));
  CHECK(r.gates[0][1].item<float>() == doctest::Approx(0.5 * 2.5));
  // Biased scores 0.95 0.2 | 0.6 0.5: group {0,1} wins (1.15 > 1.1), experts 0 and 1.
  at::Tensor bias0 = floats({0.05f, 0.f, 0.f, 0.f}, {4});
  auto r0 = layers::sigmoid_group_limited(logits, bias0, layers::GroupLimitedOptions{2, 2, 1, true, 1.0});
  CHECK(ints(r0.expert_ids) == std::vector<int64_t>{0, 1});
  CHECK(r0.gates[0][0].item<float>() == doctest::Approx(0.9 / 1.1));  // renormalised without the bias
}

TEST_CASE("attention_bias: causal and left padding") {
  at::Tensor valid = at::tensor(std::vector<int64_t>{0, 1, 1}, at::kLong).reshape({1, 3}).to(at::kBool);
  at::Tensor bias = layers::attention_bias(valid, at::kFloat);  // (1, 1, 3, 3)
  CHECK(bias[0][0][2][1].item<float>() == 0.f);                // real query sees earlier real key
  CHECK(bias[0][0][2][2].item<float>() == 0.f);                // and itself
  CHECK(bias[0][0][1][2].item<float>() < -1e30f);              // not a later key
  CHECK(bias[0][0][2][0].item<float>() < -1e30f);              // not padding
  CHECK(ints(layers::positions_from_mask(valid)) == std::vector<int64_t>{0, 0, 1});
}

TEST_CASE("deinterleave: pairs (x0,x1),(x2,x3),(x4,x5) become halves (x0,x2,x4 | x1,x3,x5)") {
  at::Tensor x = at::arange(6, at::kFloat).reshape({1, 1, 1, 6});
  CHECK(ints(layers::deinterleave(x).reshape({6})) == std::vector<int64_t>{0, 2, 4, 1, 3, 5});
}

TEST_CASE("moe_experts: sorted-block dispatch equals a per-token loop") {
  at::manual_seed(7);
  const int64_t T = 37, H = 12, I = 5, E = 6, k = 3;
  at::Tensor x = at::randn({T, H});
  layers::ExpertWeights w{at::randn({E, I, H}), at::randn({E, I, H}), at::randn({E, H, I})};
  auto routing = layers::softmax_topk(at::randn({T, E}) * 3, static_cast<int>(k), true);
  at::Tensor fast = layers::moe_experts(x, routing, w);
  at::Tensor slow = at::zeros({T, H});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      int64_t e = routing.expert_ids[t][j].item<int64_t>();
      at::Tensor h = at::silu(at::matmul(w.gate[e], x[t])) * at::matmul(w.up[e], x[t]);
      slow[t] += routing.gates[t][j] * at::matmul(w.down[e], h);
    }
  CHECK(at::allclose(fast, slow, 1e-4, 1e-4));
}

TEST_CASE("Placement::contiguous: 8 layers over 3 devices in consecutive blocks 3, 3, 2") {
  std::vector<at::Device> devices = {at::Device(at::kCUDA, 0), at::Device(at::kCUDA, 1), at::Device(at::kCUDA, 2)};
  auto p = Placement::contiguous(devices, 8);
  std::vector<int> index;
  for (const auto& d : p.layer) index.push_back(d.index());
  CHECK(index == std::vector<int>{0, 0, 0, 1, 1, 1, 2, 2});
}
