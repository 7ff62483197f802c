// Each strategy's invariant on batches where the answer is known: by hand, by a closed form, or
// (the auction) by brute force over every assignment.
#include "layers.hpp"
#include "strategies/strategy.hpp"

#include "doctest_torch.hpp"
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "moesim/common/error.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/model.hpp"
#include "moesim/model/strategy.hpp"
#include "moesim/testing/scratch.hpp"

using namespace moesim::model;
using namespace moesim::model::strategies;

namespace {

struct Batch {
  at::Tensor probs;
  layers::Routing natural;
  RouterView view() const { return {probs, {}, false, static_cast<int>(natural.expert_ids.size(1)), true, 1.0, &natural}; }
};

Batch softmax_batch(int64_t T, int64_t E, int k, uint64_t seed, double skew = 0) {
  at::manual_seed(seed);
  at::Tensor logits = at::randn({T, E}) + skew * at::arange(E, at::kFloat).neg();  // skew > 0: low experts popular
  Batch b;
  b.natural = layers::softmax_topk(logits, k, true);
  b.probs = b.natural.router_probs;
  return b;
}

layers::Routing run(const std::string& spec, const Batch& b, int moe_index = 0) {
  return make_strategy(parse_strategy(spec))->apply(b.view(), moe_index);
}

std::vector<int64_t> loads(const at::Tensor& ids, int64_t E) {
  std::vector<int64_t> out(E, 0);
  at::Tensor flat = ids.reshape({-1}).contiguous();
  for (int64_t i = 0; i < flat.numel(); ++i)
    if (flat.data_ptr<int64_t>()[i] >= 0) ++out[flat.data_ptr<int64_t>()[i]];
  return out;
}

void check_rows_distinct(const at::Tensor& ids) {
  at::Tensor c = ids.contiguous();
  for (int64_t t = 0; t < c.size(0); ++t) {
    std::set<int64_t> seen;
    for (int64_t j = 0; j < c.size(1); ++j) {
      int64_t e = c[t][j].item<int64_t>();
      if (e >= 0) CHECK(seen.insert(e).second);
    }
  }
}

}  // namespace

TEST_CASE("strategy specs: defaults spelled out, bad names and parameters refused with the spec named") {
  CHECK(parse_strategy("balanced").text == "balanced:capacity=1.25");
  CHECK(parse_strategy("temperature:t=0.5").text == "temperature:t=0.5,sample=0,seed=0");
  CHECK(parse_strategy("topk").text == "topk");
  CHECK(parse_strategy("balanced:capacity=2").number("capacity") == 2.0);
  auto message = [](const std::string& s) {
    try {
      parse_strategy(s);
    } catch (const moesim::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("balence").find("--strategy balence: unknown strategy 'balence' (known: topk, balanced,") == 0);
  CHECK(message("balanced:capacity=0.5") == "--strategy balanced:capacity=0.5: capacity must be a number ≥ 1, not '0.5'");
  CHECK(message("temperature:t=0") == "--strategy temperature:t=0: t must be a number > 0, not '0'");
  CHECK(message("balanced:cap=2") == "--strategy balanced:cap=2: balanced has no parameter 'cap' (it takes capacity)");
  CHECK(message("round_robin:x=1") == "--strategy round_robin:x=1: round_robin has no parameter 'x' (it takes none)");
  CHECK(message("filtered:allow=3-1").find("allow must be 'all' or expert ids and ranges joined by '+'") != std::string::npos);
  CHECK(message("balanced:capacity") == "--strategy balanced:capacity: 'capacity' is not key=value");
  // A ',' inside an expert list ends it: the message shows the '+' form of what was meant.
  CHECK(message("filtered:allow=0-1,3-7") ==
        "--strategy filtered:allow=0-1,3-7: '3-7' is not key=value: parameters are separated by ',', and an expert "
        "list joins ids and ranges with '+' (allow=0-1+3-7)");
  CHECK(parse_strategy("filtered").text == "filtered:allow=all,drop-least=0,window=4");
  CHECK(parse_strategy("filtered:drop-least=2").text == "filtered:allow=all,drop-least=2,window=4");
  CHECK(parse_strategy("load_temperature").text == "load_temperature:t=0.3,window=4");
  CHECK(message("load_temperature:window=0") ==
        "--strategy load_temperature:window=0: window must be an integer ≥ 1 (batches), not '0'");
  CHECK(message("load_temperature:t=-1") == "--strategy load_temperature:t=-1: t must be a number ≥ 0, not '-1'");

  const auto file = moesim::testing::scratch_path("strategies.txt");
  std::ofstream(file) << "# sweep\ntopk\n  capacity:factor=-1\n";
  try {
    read_strategy_file(file);
    FAIL("no error");
  } catch (const moesim::InputError& e) {
    CHECK(std::string(e.what()).find(file.string() + ":3:3: strategy capacity:factor=-1: factor must be a number > 0") == 0);
  }
  std::ofstream(file) << "topk  # baseline\n\nbalanced:capacity=1.5\n";
  auto specs = read_strategy_file(file);
  REQUIRE(specs.size() == 2);
  CHECK(specs[1].text == "balanced:capacity=1.5");
}

TEST_CASE("balanced: greedy by hand, and no expert ever above its capacity") {
  // T=3, E=3, k=2, capacity 2, every token ranks 0 > 1 > 2: tokens 0 and 1 fill experts 0 and 1,
  // token 2 gets expert 2 and an empty slot (no other expert has room).
  std::vector<int64_t> ranking = {0, 1, 2, 0, 1, 2, 0, 1, 2};
  CHECK(greedy_with_capacity(ranking, 3, 3, 2, 2) == std::vector<int64_t>{0, 1, 0, 1, 2, -1});

  for (double capacity : {1.0, 1.25, 2.0}) {
    Batch b = softmax_batch(96, 8, 2, 3, /*skew=*/1.0);
    layers::Routing r = run(fmt::format("balanced:capacity={}", capacity), b);
    const auto limit = static_cast<int64_t>(std::ceil(capacity * 96 * 2 / 8 - 1e-9));
    for (int64_t load : loads(r.expert_ids, 8)) CHECK(load <= limit);
    check_rows_distinct(r.expert_ids);
    CHECK(loads(b.natural.expert_ids, 8)[0] > limit);  // the skewed router alone would exceed it
  }
}

TEST_CASE("round_robin: loads differ by at most one (26 pairs over 8 experts: 4,4,3,3,3,3,3,3)") {
  Batch b = softmax_batch(13, 8, 2, 1);
  layers::Routing r = run("round_robin", b);
  CHECK(loads(r.expert_ids, 8) == std::vector<int64_t>{4, 4, 3, 3, 3, 3, 3, 3});
  check_rows_distinct(r.expert_ids);
  at::Tensor sums = r.gates.sum(-1);
  CHECK(at::allclose(sums, at::ones_like(sums)));
}

TEST_CASE("filtered: never picks an expert outside the allowed set; gates renormalised over it") {
  Batch b = softmax_batch(200, 8, 2, 5);
  layers::Routing r = run("filtered:allow=0+2+5", b);
  at::Tensor ids = r.expert_ids.contiguous();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    const int64_t e = ids.data_ptr<int64_t>()[i];
    CHECK((e == 0 || e == 2 || e == 5));
  }
  // Token 0's gates: its two best allowed probabilities over their sum.
  at::Tensor p = b.probs[0];
  std::vector<float> allowed = {p[0].item<float>(), p[2].item<float>(), p[5].item<float>()};
  std::sort(allowed.rbegin(), allowed.rend());
  CHECK(r.gates[0][0].item<float>() == doctest::Approx(allowed[0] / (allowed[0] + allowed[1])).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(make_strategy(parse_strategy("filtered:allow=7-9"))->check(8, 2),
                       "--strategy filtered:allow=7-9,drop-least=0,window=4: expert 9 does not exist (the model has 8)", moesim::InputError);
  CHECK_THROWS_WITH_AS(make_strategy(parse_strategy("filtered:allow=3"))->check(8, 2),
                       "--strategy filtered:allow=3,drop-least=0,window=4: 1 allowed experts cannot fill the model's top-2", moesim::InputError);
}

TEST_CASE("filtered:drop-least: the N least-used experts by the router's own counts over the window are never chosen") {
  // By hand: usage 5,0,3,0,9 → dropping 2 removes the two zeros (ids 1 and 3); dropping 3 also id 2.
  const std::vector<std::uint64_t> usage = {5, 0, 3, 0, 9};
  CHECK(drop_least_used(usage, std::vector<bool>(5, true), 2) == std::vector<bool>{true, false, true, false, true});
  CHECK(drop_least_used(usage, std::vector<bool>(5, true), 3) == std::vector<bool>{true, false, false, false, true});
  // Only allowed experts compete: with 1 and 3 already out, dropping 1 removes expert 2.
  CHECK(drop_least_used(usage, {true, false, true, false, true}, 1) == std::vector<bool>{true, false, false, false, true});

  // Two batches, window 2: the second batch drops what the two natural routings together used least.
  Batch low = softmax_batch(120, 8, 2, 21, /*skew=*/0.6), high = softmax_batch(120, 8, 2, 22, /*skew=*/-0.6);
  auto strategy = make_strategy(parse_strategy("filtered:drop-least=3,window=2"));
  strategy->apply(low.view(), 0);
  layers::Routing r = strategy->apply(high.view(), 0);
  std::vector<std::uint64_t> both(8, 0);
  for (int64_t e = 0; e < 8; ++e) both[e] = loads(low.natural.expert_ids, 8)[e] + loads(high.natural.expert_ids, 8)[e];
  const std::vector<bool> kept = drop_least_used(both, std::vector<bool>(8, true), 3);
  const std::vector<int64_t> got = loads(r.expert_ids, 8);
  for (int64_t e = 0; e < 8; ++e)
    if (!kept[e]) CHECK(got[e] == 0);
  check_rows_distinct(r.expert_ids);
  CHECK_THROWS_WITH_AS(make_strategy(parse_strategy("filtered:drop-least=7"))->check(8, 2),
                       "--strategy filtered:allow=all,drop-least=7,window=4: 1 allowed experts cannot fill the model's top-2",
                       moesim::InputError);
}

TEST_CASE("load_temperature: the penalty by hand; a busy expert keeps only tokens that prefer it by more than it") {
  // Recent loads 6,2,0,0: ℓ = 3,1,0,0, so at t = 0.5 the penalties are 1, 0, −0.5, −0.5.
  CHECK(load_penalty({6, 2, 0, 0}, 0.5) == std::vector<double>{1.0, 0.0, -0.5, -0.5});
  CHECK(load_penalty({0, 0}, 0.5) == std::vector<double>{0.0, 0.0});

  // Batch A: 4 tokens, p = (0.4, 0.3, 0.2, 0.1), top-1 → all on expert 0, ℓ = (4, 0, 0, 0), penalty
  // t·(3, −1, −1, −1). Expert 1 wins when 4t > ln(0.4/0.3) = 0.288: t = 0.05 keeps, t = 0.1 moves all.
  auto batch = [](std::vector<float> logp) {
    at::Tensor logits = at::tensor(logp).log().repeat({4, 1});
    layers::Routing natural = layers::softmax_topk(logits, 1, true);
    return Batch{natural.router_probs, natural};
  };
  Batch a = batch({0.4f, 0.3f, 0.2f, 0.1f}), b = batch({0.3f, 0.4f, 0.2f, 0.1f});
  CHECK(at::equal(run("load_temperature:t=0.05", a).expert_ids, at::zeros({4, 1}, at::kLong)));
  auto moving = make_strategy(parse_strategy("load_temperature:t=0.1"));
  layers::Routing moved = moving->apply(a.view(), 0);
  CHECK(at::equal(moved.expert_ids, at::ones({4, 1}, at::kLong)));
  CHECK(moved.gates[0][0].item<float>() == doctest::Approx(1.0));  // top-1, renormalised
  CHECK(moving->stats()[0].rerouted_pairs == 4);
  CHECK(run("load_temperature:t=0", a).expert_ids.eq(0).all().item<bool>());  // t = 0 is the model

  // Batch B after A (natural: all on expert 1). window=2: L = (4,0,0,0) + ((0,4,0,0) − (4,0,0,0))/2
  // = (2,2,0,0), ℓ = (2,2,0,0), penalty t·(1,1,−1,−1): expert 2 wins when 2t > ln(0.4/0.2) = 0.693.
  // window=1: ℓ = (0,4,0,0), penalty t·(−1,3,−1,−1): expert 0 wins when 4t > ln(0.4/0.3).
  auto second = [&](const std::string& spec) {
    auto s = make_strategy(parse_strategy(spec));
    s->apply(a.view(), 0);
    return s->apply(b.view(), 0).expert_ids[0][0].item<int64_t>();
  };
  CHECK(second("load_temperature:t=0.3,window=2") == 1);
  CHECK(second("load_temperature:t=0.4,window=2") == 2);
  CHECK(second("load_temperature:t=0.3,window=1") == 0);
}

TEST_CASE("expert_choice: every expert takes exactly its quota") {
  Batch b = softmax_batch(32, 8, 2, 7, /*skew=*/1.0);
  auto strategy = make_strategy(parse_strategy("expert_choice:capacity=1.0"));
  layers::Routing r = strategy->apply(b.view(), 0);
  CHECK(loads(r.expert_ids, 8) == std::vector<int64_t>(8, 8));  // quota = 32·2/8
  check_rows_distinct(r.expert_ids);
  const auto s = strategy->stats()[0];
  CHECK(s.pairs_kept == 64);
  CHECK(s.expert_load == std::vector<std::uint64_t>(8, 8));
}

TEST_CASE("capacity: slot 0 of every token first, pairs past C dropped (by hand)") {
  // T=4, k=2, E=4, every token routed to experts {0, 1}: C = ceil(1.0·8/4) = 2, so tokens 0 and 1
  // keep both experts and tokens 2 and 3 lose both (residual only).
  layers::Routing natural = layers::softmax_topk(at::tensor({3.0f, 2.0f, 0.0f, 0.0f}).repeat({4, 1}), 2, true);
  Batch b{natural.router_probs, natural};
  auto strategy = make_strategy(parse_strategy("capacity:factor=1.0"));
  layers::Routing r = strategy->apply(b.view(), 0);
  CHECK(at::equal(r.expert_ids, at::tensor({0, 1, 0, 1, -1, -1, -1, -1}, at::kLong).view({4, 2})));
  CHECK(r.gates[0][0].item<float>() == doctest::Approx(natural.gates[0][0].item<float>()));
  CHECK(r.gates[3][0].item<float>() == 0.0f);
  const auto s = strategy->stats()[0];
  CHECK(s.dropped_pairs == 4);
  CHECK(s.dropped_tokens == 2);
  CHECK(s.rerouted_pairs == 0);
}

TEST_CASE("base: the auction's assignment is optimal (brute force over 3^6 assignments)") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t T = 6, E = 3, capacity = 2;
    std::vector<double> benefit(T * E);
    for (double& x : benefit) x = u(rng);
    std::vector<uint8_t> excluded(T * E, 0);
    excluded[0] = 1;  // token 0 may not take expert 0
    const double eps = 1e-7;
    std::vector<int64_t> a = auction_assign(benefit, T, E, capacity, excluded, eps);
    double got = 0;
    std::vector<int64_t> load(E, 0);
    for (int64_t t = 0; t < T; ++t) {
      REQUIRE(a[t] >= 0);
      CHECK(!excluded[t * E + a[t]]);
      got += benefit[t * E + a[t]];
      ++load[a[t]];
    }
    for (int64_t l : load) CHECK(l <= capacity);
    double best = -1;
    for (int code = 0; code < 729; ++code) {
      std::vector<int64_t> l(E, 0);
      double total = 0;
      bool ok = true;
      for (int64_t t = 0, c = code; t < T; ++t, c /= 3) {
        ok = ok && !excluded[t * E + c % 3] && ++l[c % 3] <= capacity;
        total += benefit[t * E + c % 3];
      }
      if (ok) best = std::max(best, total);
    }
    CHECK(got >= best - T * eps);
  }
  Batch b = softmax_batch(64, 8, 2, 9, /*skew=*/1.0);
  layers::Routing r = run("base", b);
  CHECK(loads(r.expert_ids, 8) == std::vector<int64_t>(8, 16));  // T/E per expert and slot
  check_rows_distinct(r.expert_ids);
}

TEST_CASE("bias: the first batch routes as the model does, then overloaded experts lose by rate·sign") {
  // Every token prefers expert 0 slightly (probabilities 0.26 vs 0.2467): after one batch b_0 = −0.1 and
  // the others +0.1 (mean load 4·1/4 = 1 < 4 on expert 0, > 0 elsewhere), which flips the choice.
  at::Tensor logits = at::tensor({0.05f, 0.0f, 0.0f, 0.0f}).repeat({4, 1});
  layers::Routing natural = layers::softmax_topk(logits, 1, true);
  Batch b{natural.router_probs, natural};
  auto strategy = make_strategy(parse_strategy("bias:rate=0.1"));
  CHECK(at::equal(strategy->apply(b.view(), 0).expert_ids, at::zeros({4, 1}, at::kLong)));
  layers::Routing second = strategy->apply(b.view(), 0);
  CHECK(second.expert_ids.ne(0).all().item<bool>());
  CHECK(second.gates[0][0].item<float>() == doctest::Approx(1.0));  // top-1 renormalised, unbiased
  // Another layer keeps its own bias: it routes as the model does on its first batch.
  CHECK(at::equal(strategy->apply(b.view(), 1).expert_ids, at::zeros({4, 1}, at::kLong)));
}

TEST_CASE("temperature: t=1 is the model's routing; deterministic t keeps the choice; sampling repeats with the seed") {
  Batch b = softmax_batch(50, 8, 2, 13);
  layers::Routing one = run("temperature:t=1", b);
  CHECK(at::equal(one.expert_ids, b.natural.expert_ids));
  CHECK(at::allclose(one.gates, b.natural.gates, 1e-5, 1e-6));
  layers::Routing hot = run("temperature:t=4", b);
  CHECK(at::equal(hot.expert_ids, b.natural.expert_ids));                  // softmax(x/t) keeps the order
  CHECK((hot.gates.select(1, 0) <= b.natural.gates.select(1, 0) + 1e-6).all().item<bool>());  // flatter gates
  layers::Routing s1 = run("temperature:t=4,sample=1,seed=3", b), s2 = run("temperature:t=4,sample=1,seed=3", b);
  CHECK(at::equal(s1.expert_ids, s2.expert_ids));
  CHECK(!at::equal(s1.expert_ids, b.natural.expert_ids));
  check_rows_distinct(s1.expert_ids);
}

TEST_CASE("random: distinct experts, same seed same routing, near-uniform loads") {
  Batch b = softmax_batch(4000, 8, 2, 17);
  layers::Routing r1 = run("random:seed=5", b), r2 = run("random:seed=5", b), r3 = run("random:seed=6", b);
  CHECK(at::equal(r1.expert_ids, r2.expert_ids));
  CHECK(!at::equal(r1.expert_ids, r3.expert_ids));
  check_rows_distinct(r1.expert_ids);
  for (int64_t l : loads(r1.expert_ids, 8)) CHECK(std::abs(l - 1000) < 150);  // 1000 ± ~5σ (σ ≈ 29)
}

TEST_CASE("moe_experts skips empty slots: output equals the kept pairs alone") {
  at::manual_seed(2);
  const int64_t T = 5, H = 4, I = 3, E = 3;
  layers::ExpertWeights w{at::randn({E, I, H}), at::randn({E, I, H}), at::randn({E, H, I}), {}};
  at::Tensor x = at::randn({T, H});
  at::Tensor ids = at::tensor({0, 2, 1, -1, -1, -1, 2, 0, 1, -1}, at::kLong).view({T, 2});
  at::Tensor gates = at::tensor({0.6f, 0.4f, 1.0f, 0.0f, 0.0f, 0.0f, 0.7f, 0.3f, 0.5f, 0.0f}).view({T, 2});
  at::Tensor out = layers::moe_experts(x, {ids, gates, {}, {}}, w);
  for (int64_t t = 0; t < T; ++t) {
    at::Tensor expect = at::zeros({H});
    for (int64_t j = 0; j < 2; ++j) {
      const int64_t e = ids[t][j].item<int64_t>();
      if (e < 0) continue;
      at::Tensor h = at::silu(at::matmul(w.gate[e], x[t])) * at::matmul(w.up[e], x[t]);
      expect += gates[t][j] * at::matmul(w.down[e], h);
    }
    CHECK(at::allclose(out[t], expect, 1e-5, 1e-5));
  }
}

TEST_CASE("a model under a strategy: topk changes nothing, round_robin routes by position and changes the logits") {
  const auto dir = std::filesystem::path(MOESIM_SOURCE_DIR) / "tests/fixtures/qwen3_moe";
  auto m = MoeModel::load(dir);
  const std::vector<std::vector<int32_t>> ids = {{5, 17, 42, 3, 88, 61, 29, 74}};
  struct Keep : RoutingHook {
    std::vector<RoutingRecord> r;
    void on_routing(const RoutingRecord& x) override { r.push_back(x); }
  } plain, rr;
  ForwardResult a = m->forward(ids, &plain);
  m->set_routing_strategy(parse_strategy("topk"));
  CHECK(m->forward(ids).logits == a.logits);
  m->set_routing_strategy(parse_strategy("round_robin"));
  ForwardResult c = m->forward(ids, &rr);
  CHECK(c.logits != a.logits);
  for (int t = 0; t < 8; ++t) {  // token t: experts {2t mod 8, 2t+1 mod 8}, the larger gate first
    std::set<int32_t> row = {rr.r[0].expert_ids[2 * t], rr.r[0].expert_ids[2 * t + 1]};
    CHECK(row == std::set<int32_t>{(2 * t) % 8, (2 * t + 1) % 8});
  }
  CHECK(m->routing_strategy_stats().at(0).expert_load == std::vector<std::uint64_t>(8, 2));
  CHECK_THROWS_AS(m->set_routing_strategy(parse_strategy("filtered:allow=8")), moesim::InputError);
}

// capture.cpp: how a strategy's row becomes a trace row with a kept mask (format 1.1), by hand.
TEST_CASE("trace_row: kept experts first, dropped slots filled with the router's next choice and marked") {
  const std::vector<float> probs = {0.05f, 0.40f, 0.10f, 0.30f, 0.15f};  // router preference: 1, 3, 4, 2, 0
  std::int32_t ids[3];
  float gates[3];
  std::uint8_t kept[3];
  SUBCASE("capacity dropped slot 1 of top-2: expert 1 kept, slot filled with expert 3, kept 0") {
    const std::vector<std::int32_t> in = {1, -1};
    const std::vector<float> g = {1.0f, 0.0f};
    trace_row(in, g, probs, 2, ids, gates, kept);
    CHECK(std::vector<std::int32_t>(ids, ids + 2) == std::vector<std::int32_t>{1, 3});
    CHECK(std::vector<float>(gates, gates + 2) == std::vector<float>{1.0f, 0.0f});
    CHECK(std::vector<std::uint8_t>(kept, kept + 2) == std::vector<std::uint8_t>{1, 0});
  }
  SUBCASE("a token no expert took: every slot filled, none kept") {
    const std::vector<std::int32_t> in = {-1, -1};
    const std::vector<float> g = {0.0f, 0.0f};
    trace_row(in, g, probs, 2, ids, gates, kept);
    CHECK(std::vector<std::int32_t>(ids, ids + 2) == std::vector<std::int32_t>{1, 3});
    CHECK(std::vector<std::uint8_t>(kept, kept + 2) == std::vector<std::uint8_t>{0, 0});
  }
  SUBCASE("expert choice gave a token 3 experts: 3 slots keep all three") {
    const std::vector<std::int32_t> in = {4, 0, 2};
    const std::vector<float> g = {0.5f, 0.3f, 0.2f};
    trace_row(in, g, probs, 3, ids, gates, kept);
    CHECK(std::vector<std::int32_t>(ids, ids + 3) == std::vector<std::int32_t>{4, 0, 2});
    CHECK(std::vector<std::uint8_t>(kept, kept + 3) == std::vector<std::uint8_t>{1, 1, 1});
    CHECK_THROWS_AS(trace_row(in, g, probs, 2, ids, gates, kept), std::logic_error);  // never truncated silently
  }
  CHECK(trace_slots("expert_choice", 2, 8) == 8);
  CHECK(trace_slots("capacity", 2, 8) == 2);
}
