// Balance losses on hand-worked distributions, and the direction of their gradients.
#include "doctest_torch.hpp"

#include <cmath>

#include "balance_losses.hpp"
#include "moesim/common/error.hpp"

using namespace moesim::model;

namespace {
// P̄ = (1/2, 1/4, 1/8, 1/8) as the mean of two different rows.
at::Tensor skewed_probs() { return at::tensor({1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.25f, 0.25f}).reshape({2, 4}); }
double value(const at::Tensor& t) { return t.item<double>(); }
}  // namespace

TEST_CASE("balance losses: values on P̄ = (1/2, 1/4, 1/8, 1/8)") {
  at::Tensor mean = skewed_probs().mean(0);
  // Σ_i Σ_j |p_i − p_j| = 2 · (1/4 + 3/8 + 3/8 + 1/8 + 1/8 + 0) = 5/2; / (2 · 4 · 1) = 0.3125
  CHECK(value(gini_loss(mean)) == doctest::Approx(0.3125));
  // deviations from 1/4: 1/4, 0, −1/8, −1/8 → (1/16 + 1/64 + 1/64) / 4 = 0.0234375
  CHECK(value(variance_loss(mean)) == doctest::Approx(0.0234375));
  CHECK(value(cv_loss(mean)) == doctest::Approx(std::sqrt(0.0234375) / 0.25).epsilon(1e-6));
  // H = 1.75 ln 2, ln 4 − H = 0.25 ln 2
  CHECK(value(entropy_loss(mean)) == doctest::Approx(0.25 * std::log(2.0)));
}

TEST_CASE("balance losses: uniform usage scores 0 (Switch scores 1), one-hot scores the maximum") {
  at::Tensor uniform = at::full({4}, 0.25f);
  CHECK(value(gini_loss(uniform)) == doctest::Approx(0.0));
  CHECK(value(variance_loss(uniform)) == doctest::Approx(0.0));
  CHECK(value(cv_loss(uniform)) == doctest::Approx(0.0).epsilon(1e-5));
  CHECK(value(entropy_loss(uniform)) == doctest::Approx(0.0).epsilon(1e-6));
  at::Tensor one_hot = at::tensor({1.0f, 0.0f, 0.0f, 0.0f});
  CHECK(value(gini_loss(one_hot)) == doctest::Approx(0.75));  // (E − 1) / E
  CHECK(value(entropy_loss(one_hot)) == doctest::Approx(std::log(4.0)));
  // Switch: 4 tokens, top-2, every expert chosen twice, P uniform → E · Σ (1/4)(1/4) = 1
  at::Tensor ids = at::tensor({0, 1, 2, 3, 0, 1, 2, 3}, at::kLong).reshape({4, 2});
  CHECK(value(switch_loss(at::full({4, 4}, 0.25f), ids)) == doctest::Approx(1.0));
}

TEST_CASE("switch and z-loss: hand-worked values") {
  // ids (0,1), (0,2): f = (2, 1, 1, 0) / 4; P̄ = (1/2, 1/4, 1/8, 1/8)
  // E · Σ f P̄ = 4 · (1/4 + 1/16 + 1/32) = 1.375
  at::Tensor ids = at::tensor({0, 1, 0, 2}, at::kLong).reshape({2, 2});
  CHECK(value(switch_loss(skewed_probs(), ids)) == doctest::Approx(1.375));
  // logsumexp(0,0,0,0) = ln 4; logsumexp(ln 2, 0, 0, 0) = ln 5 → mean of squares
  at::Tensor logits = at::tensor({0.0f, 0.0f, 0.0f, 0.0f, static_cast<float>(std::log(2.0)), 0.0f, 0.0f, 0.0f}).reshape({2, 4});
  const double expected = (std::pow(std::log(4.0), 2) + std::pow(std::log(5.0), 2)) / 2;
  CHECK(value(z_loss(logits)) == doctest::Approx(expected));
}

TEST_CASE("balance losses: moving probability toward the overloaded expert raises every loss") {
  // Expert 0 already takes most of the probability; raising its logit must raise the loss.
  for (BalanceLoss kind : {BalanceLoss::kGini, BalanceLoss::kVariance, BalanceLoss::kCv, BalanceLoss::kEntropy,
                           BalanceLoss::kSwitch, BalanceLoss::kZ}) {
    CAPTURE(balance_loss_name(kind));
    at::Tensor logits = at::tensor({2.0f, 0.5f, 0.0f, -0.5f, 1.5f, 0.0f, 0.5f, 0.0f, 3.0f, 1.0f, 0.0f, 0.0f}).reshape({3, 4});
    logits.requires_grad_(true);
    layers::Routing r = layers::softmax_topk(logits, 2, true);
    at::Tensor loss = balance_loss(kind, r);
    loss.backward();
    CHECK(logits.grad().select(1, 0).sum().item<double>() > 0);
    // …and the least loaded expert's logit pulls the other way (except z-loss, which shrinks all logits).
    if (kind != BalanceLoss::kZ) CHECK(logits.grad().select(1, 3).sum().item<double>() < 0);
  }
}

TEST_CASE("balance spec: weights parsed, mistakes named") {
  auto terms = parse_balance_terms("gini=0.01,z=0.001");
  REQUIRE(terms.size() == 2);
  CHECK(terms[0].kind == BalanceLoss::kGini);
  CHECK(terms[0].weight == doctest::Approx(0.01));
  CHECK(terms[1].kind == BalanceLoss::kZ);
  CHECK(parse_balance_terms("none").empty());
  CHECK_THROWS_WITH_AS(parse_balance_terms("gnii=0.1"), doctest::Contains("unknown loss 'gnii'"), moesim::InputError);
  CHECK_THROWS_WITH_AS(parse_balance_terms("cv"), doctest::Contains("needs a weight"), moesim::InputError);
  CHECK_THROWS_WITH_AS(parse_balance_terms("cv=-1"), doctest::Contains("not a number ≥ 0"), moesim::InputError);
}
