// Building blocks on hand-worked cases: routers, masks, RoPE layout, and the vectorised expert
// dispatch against a plain per-token loop.
#include "dequantize.hpp"
#include "layers.hpp"
#include "network.hpp"
#include "moesim/common/error.hpp"

#include "doctest_torch.hpp"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <numbers>

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

TEST_CASE("softmax_biased_topk (ERNIE 4.5): the bias steers selection only, gates renormalised") {
  // Probabilities 0.1 0.2 0.3 0.4 through their logits; a bias of 0.25 on expert 0 lifts it to 0.35.
  at::Tensor logits = floats({0.f, std::log(2.f), std::log(3.f), std::log(4.f)}, {1, 4});
  at::Tensor bias = floats({0.25f, 0.f, 0.f, 0.f}, {4});
  auto r = layers::softmax_biased_topk(logits, bias, 2, 1e-12);
  CHECK(ints(r.expert_ids) == std::vector<int64_t>{3, 0});             // 0.4, then 0.35 (biased) over 0.3
  CHECK(r.gates[0][0].item<float>() == doctest::Approx(0.4 / 0.5));  // unbiased 0.4 and 0.1, renormalised
  CHECK(r.gates[0][1].item<float>() == doctest::Approx(0.1 / 0.5));
  // moe_norm_min floors the sum: 0.5 < 2 divides by 2.
  auto floored = layers::softmax_biased_topk(logits, bias, 2, 2.0);
  CHECK(floored.gates[0][0].item<float>() == doctest::Approx(0.2));
}

TEST_CASE("apply_rope: partial rotary turns the first rot_dim dims and passes the rest (GLM-4.5)") {
  // One head, one position at angle θ for both frequencies; head_dim 6, rot_dim 4.
  const double theta = 0.5;
  layers::RopeTables rope{at::full({1, 1, 4}, std::cos(theta), at::kFloat), at::full({1, 1, 4}, std::sin(theta), at::kFloat)};
  at::Tensor x = floats({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {1, 1, 1, 6});
  at::Tensor y = layers::apply_rope(x, rope).reshape({6});
  // halves of the rotary part: (x0, x2) and (x1, x3) turned by θ
  CHECK(y[0].item<float>() == doctest::Approx(1 * std::cos(theta) - 3 * std::sin(theta)));
  CHECK(y[2].item<float>() == doctest::Approx(3 * std::cos(theta) + 1 * std::sin(theta)));
  CHECK(y[1].item<float>() == doctest::Approx(2 * std::cos(theta) - 4 * std::sin(theta)));
  CHECK(y[4].item<float>() == 5.f);
  CHECK(y[5].item<float>() == 6.f);
}

TEST_CASE("softmax_group_limited (DeepSeek-V2): groups ranked by their best score, gates scaled, not renormalised") {
  // Probabilities 0.05 0.40 | 0.35 0.20 set through their logits (softmax of ln p is p when Σp = 1).
  at::Tensor logits = floats({std::log(0.05f), std::log(0.40f), std::log(0.35f), std::log(0.20f)}, {1, 4});
  // greedy (one group): the two best, 0.40 and 0.35, × routed_scaling_factor 2.
  auto greedy = layers::softmax_group_limited(logits, layers::GroupLimitedOptions{2, 1, 1, false, 2.0});
  CHECK(ints(greedy.expert_ids) == std::vector<int64_t>{1, 2});
  CHECK(greedy.gates[0][0].item<float>() == doctest::Approx(0.80));
  CHECK(greedy.gates[0][1].item<float>() == doctest::Approx(0.70));
  // Two groups {0,1} {2,3}, one searched: group {0,1} has the best single score (0.40 > 0.35) although
  // group {2,3} has the larger sum (0.55 > 0.45, which DeepSeek-V3's top-2 sum would pick).
  auto grouped = layers::softmax_group_limited(logits, layers::GroupLimitedOptions{2, 2, 1, false, 1.0});
  CHECK(ints(grouped.expert_ids) == std::vector<int64_t>{1, 0});
  CHECK(grouped.gates[0][0].item<float>() == doctest::Approx(0.40));
  CHECK(grouped.gates[0][1].item<float>() == doctest::Approx(0.05));
  CHECK(grouped.router_probs[0][3].item<float>() == doctest::Approx(0.20));
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

// Σ_j gates[t, j] · expert_{ids[t, j]}(x[t]) one (token, slot) at a time; −1 slots add nothing.
at::Tensor experts_one_by_one(const at::Tensor& x, const layers::Routing& routing, const layers::ExpertWeights& w,
                              layers::GateAt gate_at) {
  at::Tensor out = at::zeros_like(x);
  for (int64_t t = 0; t < x.size(0); ++t)
    for (int64_t j = 0; j < routing.expert_ids.size(1); ++j) {
      const int64_t e = routing.expert_ids[t][j].item<int64_t>();
      if (e < 0) continue;
      const at::Tensor g = routing.gates[t][j];
      const at::Tensor in = gate_at == layers::GateAt::kInput ? g * x[t] : x[t];
      at::Tensor h = at::silu(at::matmul(w.gate[e], in)) * at::matmul(w.up[e], in);
      out[t] += gate_at == layers::GateAt::kInput ? at::matmul(w.down[e], h) : g * at::matmul(w.down[e], h);
    }
  return out;
}

TEST_CASE("moe_experts: sorted-block dispatch equals a per-token loop") {
  at::manual_seed(7);
  const int64_t T = 37, H = 12, I = 5, E = 6, k = 3;
  at::Tensor x = at::randn({T, H});
  layers::ExpertWeights w{at::randn({E, I, H}), at::randn({E, I, H}), at::randn({E, H, I}), {}};
  auto routing = layers::softmax_topk(at::randn({T, E}) * 3, static_cast<int>(k), true);
  const at::Tensor slow = experts_one_by_one(x, routing, w, layers::GateAt::kOutput);

  SUBCASE("gate and up apart, gradient recorded") {
    CHECK(at::allclose(layers::moe_experts(x, routing, w), slow, 1e-4, 1e-4));
  }
  SUBCASE("gate and up as the halves of one (E, 2I, H), no gradient: one product per expert") {
    at::Tensor gate_up = at::cat({w.gate, w.up}, 1);  // (E, 2I, H)
    layers::ExpertWeights fused{gate_up.narrow(1, 0, I), gate_up.narrow(1, I, I), w.down, gate_up};
    c10::InferenceMode guard;
    CHECK(at::allclose(layers::moe_experts(x, routing, fused), slow, 1e-4, 1e-4));
  }
  SUBCASE("empty slots (−1, a strategy's drops) add nothing, with the gates at the output or the input") {
    layers::Routing dropped = routing;
    dropped.expert_ids = routing.expert_ids.clone();
    dropped.expert_ids.index_put_({at::arange(0, T, 4), 1}, -1);  // every 4th token loses its second slot
    dropped.expert_ids.index_put_({5}, -1);                        // token 5 loses all three
    for (layers::GateAt gate_at : {layers::GateAt::kOutput, layers::GateAt::kInput}) {
      CAPTURE(static_cast<int>(gate_at));
      const at::Tensor want = experts_one_by_one(x, dropped, w, gate_at);
      const at::Tensor got = layers::moe_experts(x, dropped, w, gate_at);
      CHECK(at::allclose(got, want, 1e-4, 1e-4));
      CHECK(got[5].abs().max().item<float>() == 0.f);
    }
  }
}

TEST_CASE("Placement::contiguous: 8 layers over 3 devices in consecutive blocks 3, 3, 2") {
  std::vector<at::Device> devices = {at::Device(at::kCUDA, 0), at::Device(at::kCUDA, 1), at::Device(at::kCUDA, 2)};
  auto p = Placement::contiguous(devices, 8);
  std::vector<int> index;
  for (const auto& d : p.layer) index.push_back(d.index());
  CHECK(index == std::vector<int>{0, 0, 0, 1, 1, 1, 2, 2});
}

TEST_CASE("Placement::by_memory: each device takes the next layers while they fit, the last the rest") {
  const std::vector<at::Device> devices = {at::Device(at::kCUDA, 0), at::Device(at::kCUDA, 1), at::Device(at::kCPU)};
  const std::uint64_t GB = 1000000000;
  // 5 layers of 4 GB; cuda:0 has 9 GB (two fit, a third would make 12), cuda:1 5 GB (one), the CPU the other two.
  auto p = Placement::by_memory(devices, std::vector<std::uint64_t>(5, 4 * GB), {9 * GB, 5 * GB, 100 * GB});
  CHECK(p.describe() == "layers 0-1 on cuda:0, 2 on cuda:1, 3-4 on cpu");
  // Too small all together: one line with what is needed and what each device has.
  CHECK_THROWS_WITH_AS(Placement::by_memory(devices, std::vector<std::uint64_t>(5, 4 * GB), {9 * GB, 5 * GB, 5 * GB}),
                       "--device auto: the weights need 20.0 GB and the devices have cuda:0 9.0 GB, cuda:1 5.0 GB, cpu "
                       "5.0 GB free",
                       moesim::InputError);
}

TEST_CASE("LayerInputs: a block moved onto the CPU attends through the bias again") {
  LayerInputs in;
  in.x = at::zeros({1, 2, 4});
  in.rope = {at::zeros({1, 2, 4}), at::zeros({1, 2, 4})};
  in.bias = at::zeros({1, 1, 2, 2});
  in.causal = true;  // as causal_without_bias() says on a GPU
  CHECK(!in.bias_for(false, false).defined());
  in.move_to(at::kCPU);
  CHECK_FALSE(in.causal);
  CHECK(in.bias_for(false, false).defined());
}

TEST_CASE("layer_bytes: what each layer takes once loaded, from the checkpoint's headers") {
  const std::filesystem::path fixtures = std::filesystem::path(MOESIM_SOURCE_DIR) / "tests" / "fixtures";
  {  // mixtral fixture (hidden 32, 4 heads / 2 KV heads of 8, 8 experts of 24, vocabulary 96), in bfloat16:
    // per layer 2 norms 64 + q 1024 + k 512 + v 512 + o 1024 + router 256 + experts 8·3·24·32 = 21,824
    // parameters; the embedding (3,072) goes with layer 0, the final norm and head (3,104) with the last.
    const auto dir = fixtures / "mixtral";
    auto bytes = layer_bytes(Checkpoint(dir), load_config(dir), at::kBFloat16, false);
    CHECK(bytes == std::vector<std::uint64_t>{2 * (21824 + 3072), 2 * 21824, 2 * (21824 + 3104)});
  }
  {  // gpt_oss_mxfp4: 8 experts, gate_up 64×32 and down 32×32 = 24,576 MXFP4 values a layer; dequantized
    // to bfloat16 they take 2 bytes each, kept 1/2 (blocks) + 1/32 (scales): 36,096 bytes more per layer.
    const auto dir = fixtures / "gpt_oss_mxfp4";
    auto dequantized = layer_bytes(Checkpoint(dir), load_config(dir), at::kBFloat16, false);
    auto kept = layer_bytes(Checkpoint(dir), load_config(dir), at::kBFloat16, true);
    REQUIRE(dequantized.size() == 3);
    for (std::size_t l = 0; l < 3; ++l) CHECK(dequantized[l] - kept[l] == 36096);
  }
}

namespace {
std::vector<double> doubles(const at::Tensor& t) {
  at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}
// The scaled-RoPE fixtures' setting (tests/fixtures/make_parity_fixtures.py YARN): rot_dim 8,
// theta 100, factor 4, original context 16, beta_fast 4, beta_slow 0.25.
RopeScaling fixture_yarn() {
  RopeScaling s;
  s.type = RopeType::kYarn;
  s.factor = 4;
  s.original_max_position_embeddings = 16;
  s.beta_fast = 4;
  s.beta_slow = 0.25;
  return s;
}
}  // namespace

TEST_CASE("rope_frequencies: YaRN blend on a hand-worked case, against transformers 5.17") {
  // Unscaled inv_freq = 100^(-i/4), i = 0..3: 1, 10^-0.5, 0.1, 10^-1.5.
  // Correction dims d(r) = 8 ln(16 / (2π r)) / (2 ln 100): d(4) = -0.392 → floor → 0 (clamped),
  // d(0.25) = 2.016 → ceil → 3. Ramp i/3, so the unscaled weight is 1, 2/3, 1/3, 0 and
  // inv_freq = unscaled · (w + (1 - w)/4) = unscaled · (1, 3/4, 1/2, 1/4).
  RopeScaling s = fixture_yarn();
  s.mscale = 1.0;
  s.mscale_all_dim = 0.5;
  layers::RopeFrequencies f = layers::rope_frequencies(8, 100.0, s);
  const std::vector<double> hand = {1.0, 0.75 / std::sqrt(10.0), 0.05, 0.25 * std::pow(10.0, -1.5)};
  // transformers' DeepseekV3RotaryEmbedding.inv_freq for the deepseek_v3_yarn fixture (dump_rope_reference.py).
  const std::vector<double> hf = {1.0, 0.23717081546783447, 0.04999999701976776, 0.007905694656074047};
  auto got = doubles(f.inv_freq);
  REQUIRE(got.size() == 4);
  for (int i = 0; i < 4; ++i) {
    CHECK(got[i] == doctest::Approx(hand[i]).epsilon(1e-6));
    CHECK(got[i] == doctest::Approx(hf[i]).epsilon(1e-6));
  }
  // attention factor (0.1·1·ln 4 + 1) / (0.1·0.5·ln 4 + 1) = 1.138629 / 1.069315 = 1.064822
  CHECK(f.attention_factor == doctest::Approx((0.1 * std::log(4.0) + 1) / (0.05 * std::log(4.0) + 1)));
  CHECK(f.attention_factor == doctest::Approx(1.0648216253695715).epsilon(1e-12));
  // DeepSeek-V3's softmax scale: 16^-0.5 · (0.05 ln 4 + 1)² = 0.285858 (transformers: 0.28585849156279275)
  CHECK(0.25 * std::pow(yarn_mscale(4.0, 0.5), 2) == doctest::Approx(0.28585849156279275).epsilon(1e-12));
}

TEST_CASE("rope_frequencies: YaRN untruncated ramp and default attention factor") {
  // truncate = false: ramp from 0 to d(0.25) = 8 ln(32/π) / (2 ln 100) = 2.016000 (unrounded), so the
  // unscaled weight is 1 - i/2.016 clamped: 1, 0.50397, 0.00794, 0 and the multiplier 0.25 + 0.75 w.
  RopeScaling s = fixture_yarn();
  s.truncate = false;
  layers::RopeFrequencies f = layers::rope_frequencies(8, 100.0, s);
  const double high = 8 * std::log(16 / (0.25 * 2 * std::numbers::pi)) / (2 * std::log(100.0));
  CHECK(high == doctest::Approx(2.016000).epsilon(1e-6));
  // transformers' Qwen3MoeRotaryEmbedding.inv_freq for the qwen3_moe_yarn fixture.
  const std::vector<double> hf = {1.0, 0.19858352839946747, 0.025595249608159065, 0.007905694656074047};
  auto got = doubles(f.inv_freq);
  for (int i = 0; i < 4; ++i) {
    double w = std::clamp(1 - i / high, 0.0, 1.0);
    CHECK(got[i] == doctest::Approx(std::pow(100.0, -i / 4.0) * (0.25 + 0.75 * w)).epsilon(1e-6));
    CHECK(got[i] == doctest::Approx(hf[i]).epsilon(1e-6));
  }
  // Neither mscale given: 0.1 ln 4 + 1 = 1.138629 (transformers: 1.138629436111989).
  CHECK(f.attention_factor == doctest::Approx(1.138629436111989).epsilon(1e-12));
}

TEST_CASE("rope_frequencies: llama3 and linear scaling") {
  // Llama 3 with context 16, low/high freq factors 1/4: wavelengths 2π·100^(i/4) = 6.28, 19.9, 62.8, 199.
  // Above 16 they are divided by 4; 6.28 lies in [4, 16]: smooth = (16/6.28 - 1)/3 = 0.51549,
  // inv = (1 - smooth)/4 + smooth = 0.63662 (= 2/π exactly: 0.25 + 0.75·(16/(2π) - 1)/3 = 4/(2π)).
  RopeScaling s;
  s.type = RopeType::kLlama3;
  s.factor = 4;
  s.original_max_position_embeddings = 16;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  layers::RopeFrequencies f = layers::rope_frequencies(8, 100.0, s);
  // transformers' MixtralRotaryEmbedding.inv_freq for the mixtral_llama3 fixture.
  const std::vector<double> hf = {0.6366197466850281, 0.07905694097280502, 0.02500000037252903, 0.007905694656074047};
  auto got = doubles(f.inv_freq);
  CHECK(got[0] == doctest::Approx(2 / std::numbers::pi).epsilon(1e-6));
  for (int i = 0; i < 4; ++i) CHECK(got[i] == doctest::Approx(hf[i]).epsilon(1e-6));
  CHECK(f.attention_factor == 1.0);

  RopeScaling linear;
  linear.type = RopeType::kLinear;
  linear.factor = 2;
  auto lin = doubles(layers::rope_frequencies(4, 10000.0, linear).inv_freq);  // 1/2, 0.01/2
  CHECK(lin[0] == doctest::Approx(0.5));
  CHECK(lin[1] == doctest::Approx(0.005));
}

TEST_CASE("rope_tables: the YaRN attention factor multiplies cos and sin") {
  RopeScaling s = fixture_yarn();  // attention factor 0.1 ln 4 + 1
  at::Tensor positions = at::arange(3, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);  // (1, 3)
  layers::RopeTables t = layers::rope_tables(positions, 8, 100.0, s, at::kFloat);
  const double a = 0.1 * std::log(4.0) + 1;
  // position 2, frequency 0 (unscaled, inv_freq 1): cos 2 and sin 2, in both halves.
  CHECK(t.cos[0][2][0].item<double>() == doctest::Approx(a * std::cos(2.0)).epsilon(1e-6));
  CHECK(t.sin[0][2][4].item<double>() == doctest::Approx(a * std::sin(2.0)).epsilon(1e-6));
  // position 2, frequency 3 (interpolated, 10^-1.5 / 4)
  CHECK(t.cos[0][2][3].item<double>() == doctest::Approx(a * std::cos(2 * std::pow(10.0, -1.5) / 4)).epsilon(1e-6));
}

TEST_CASE("attention_bias: a sliding window of 3 hides keys 3 or more positions back, padding still hidden") {
  // One left-padded sequence of 6 slots, the first padding. transformers' sliding_window_overlay keeps
  // key j for query i when kv_idx > q_idx - window, i.e. i - j < 3: the query and the two before it.
  at::Tensor valid = at::tensor(std::vector<int64_t>{0, 1, 1, 1, 1, 1}, at::kLong).reshape({1, 6}).to(at::kBool);
  at::Tensor bias = layers::attention_bias(valid, at::kFloat, 3)[0][0];  // (6, 6)
  const std::vector<std::vector<int>> visible = {
      // key: 0  1  2  3  4  5        query
      {0, 0, 0, 0, 0, 0},  // 0 (padding: sees nothing, not even itself)
      {0, 1, 0, 0, 0, 0},  // 1
      {0, 1, 1, 0, 0, 0},  // 2
      {0, 1, 1, 1, 0, 0},  // 3: keys 1..3 (3 - 1 = 2 < 3)
      {0, 0, 1, 1, 1, 0},  // 4: key 1 is 3 back, hidden
      {0, 0, 0, 1, 1, 1},  // 5
  };
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      INFO("query " << i << ", key " << j);
      CHECK((bias[i][j].item<float>() == 0.f) == (visible[i][j] == 1));
    }
  // Window 0 is plain causal attention; a window as long as the sequence changes nothing.
  CHECK(at::equal(layers::attention_bias(valid, at::kFloat, 0), layers::attention_bias(valid, at::kFloat)));
  CHECK(at::equal(layers::attention_bias(valid, at::kFloat, 6), layers::attention_bias(valid, at::kFloat)));
}

TEST_CASE("attention with sinks: the sink joins the softmax and takes its share of the weight") {
  // One head, two positions, d = 1, scale 1. q = (0, ln 3), k = (1, 1), v = (10, 20).
  // Query 0 sees key 0 only: score 0; sink 0 → weights e^0 / (e^0 + e^0) = 1/2 → output 5.
  // Query 1 sees both keys: scores ln 3, ln 3; sink ln 2 → weights 3/8, 3/8 (sum 3+3+2) → 3.75 + 7.5.
  at::Tensor q = floats({0.f, std::log(3.f)}, {1, 1, 2, 1});
  at::Tensor k = floats({1.f, 1.f}, {1, 1, 2, 1});
  at::Tensor v = floats({10.f, 20.f}, {1, 1, 2, 1});
  at::Tensor valid = at::ones({1, 2}, at::kBool);
  at::Tensor bias = layers::attention_bias(valid, at::kFloat);
  at::Tensor with_sink0 = layers::attention(q, k, v, bias, 1.0, floats({0.f}, {1}));
  CHECK(with_sink0[0][0][0].item<float>() == doctest::Approx(5.0));
  at::Tensor with_sink = layers::attention(q, k, v, bias, 1.0, floats({std::log(2.f)}, {1}));
  CHECK(with_sink[0][1][0].item<float>() == doctest::Approx(3.0 / 8 * 10 + 3.0 / 8 * 20));
  // A sink of −∞ weight is plain attention.
  at::Tensor no_sink = layers::attention(q, k, v, bias, 1.0, floats({-1e30f}, {1}));
  CHECK(at::allclose(no_sink, layers::attention(q, k, v, bias, 1.0)));
}

TEST_CASE("topk_softmax (gpt-oss): the top-k logits, softmax over those k only") {
  at::Tensor logits = floats({1.f, 3.f, 2.f, 0.f}, {1, 4});
  auto r = layers::topk_softmax(logits, 2);
  CHECK(ints(r.expert_ids) == std::vector<int64_t>{1, 2});
  const double e = std::exp(1.0);
  CHECK(r.gates[0][0].item<float>() == doctest::Approx(e / (e + 1)));
  CHECK(r.gates[0][1].item<float>() == doctest::Approx(1 / (e + 1)));
  // router_probs: softmax over all four, whose renormalised top 2 are the gates.
  CHECK(r.router_probs.sum().item<float>() == doctest::Approx(1.0));
}

TEST_CASE("sparsemixer (Phi-3.5-MoE): two masked-softmax rounds, the second gate may be the larger") {
  // Scores 2, 1.99, 0, -1 with eps 0.01 (threshold 2·eps = 0.02, relative to max(|s|, best)):
  // round 1: best 2 (expert 0); (2 - s) / 2 = 0, 0.005, 1, 1.5 → experts 2, 3 masked;
  //          gate = e^2 / (e^2 + e^1.99) = 1 / (1 + e^-0.01) = 0.502500.
  // round 2: expert 0 removed, best 1.99 (expert 1); (1.99 - s) / max(|s|, 1.99) = −0.005, 0, 1, 1.5
  //          → experts 2, 3 masked again, expert 1 alone: gate 1.
  at::Tensor logits = floats({2.f, 1.99f, 0.f, -1.f}, {1, 4});
  auto r = layers::sparsemixer(logits, 0.01);
  CHECK(ints(r.expert_ids) == std::vector<int64_t>{1, 0});  // largest gate first
  CHECK(r.gates[0][0].item<float>() == doctest::Approx(1.0));
  CHECK(r.gates[0][1].item<float>() == doctest::Approx(1 / (1 + std::exp(-0.01))).epsilon(1e-5));
  // A wide eps keeps every expert in both softmaxes: gate 1 = softmax(s)[0], gate 2 = softmax(s without 0)[1].
  auto wide = layers::sparsemixer(logits, 10.0);
  const double z = std::exp(2.0) + std::exp(1.99) + 1 + std::exp(-1.0), z2 = std::exp(1.99) + 1 + std::exp(-1.0);
  CHECK(ints(wide.expert_ids) == std::vector<int64_t>{1, 0});
  CHECK(wide.gates[0][0].item<float>() == doctest::Approx(std::exp(1.99) / z2).epsilon(1e-5));
  CHECK(wide.gates[0][1].item<float>() == doctest::Approx(std::exp(2.0) / z).epsilon(1e-5));
}

TEST_CASE("clamped_swiglu_experts (gpt-oss): interleaved gate/up, biases, clamps at the limit") {
  // One expert, H = 2, I = 1: gate_up columns (gate, up) = ((4, 3), (1, -5)) for x = (1, 2):
  // gate = 4 + 6 + 0 = 10 → min(10, 7) = 7; up = 1 - 10 + 0.5 = -8.5 → clamp to -7.
  // out = ((up + 1) · gate · σ(1.702 · gate)) · down + b = -42 σ(11.914) · (1, 0.5) + (0.1, -0.2).
  layers::FusedExpertWeights w{layers::ExpertMatrices(floats({4.f, 1.f, 3.f, -5.f}, {1, 2, 2})), floats({0.f, 0.5f}, {1, 2}),
                               layers::ExpertMatrices(floats({1.f, 0.5f}, {1, 1, 2})), floats({0.1f, -0.2f}, {1, 2})};
  layers::Routing routing{at::zeros({1, 1}, at::kLong), at::ones({1, 1}), {}, {}};
  at::Tensor out = layers::clamped_swiglu_experts(floats({1.f, 2.f}, {1, 2}), routing, w, 1.702, 7.0);
  const double glu = -42 / (1 + std::exp(-1.702 * 7));
  CHECK(out[0][0].item<float>() == doctest::Approx(glu + 0.1));
  CHECK(out[0][1].item<float>() == doctest::Approx(glu * 0.5 - 0.2));
}

TEST_CASE("clamped_swiglu_experts: sorted-block dispatch equals a per-token loop") {
  at::manual_seed(11);
  const int64_t T = 23, H = 6, I = 4, E = 5, k = 2;
  at::Tensor x = at::randn({T, H}) * 3;
  layers::FusedExpertWeights w{layers::ExpertMatrices(at::randn({E, H, 2 * I}) * 2), at::randn({E, 2 * I}),
                               layers::ExpertMatrices(at::randn({E, I, H})), at::randn({E, H})};
  auto routing = layers::topk_softmax(at::randn({T, E}) * 3, static_cast<int>(k));
  at::Tensor fast = layers::clamped_swiglu_experts(x, routing, w, 1.702, 7.0);
  at::Tensor slow = at::zeros({T, H});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      int64_t e = routing.expert_ids[t][j].item<int64_t>();
      at::Tensor gu = at::matmul(x[t], w.gate_up.expert(e)) + w.gate_up_bias[e];  // (2I)
      at::Tensor gate = gu.slice(0, 0, 2 * I, 2).clamp_max(7.0);
      at::Tensor up = gu.slice(0, 1, 2 * I, 2).clamp(-7.0, 7.0);
      slow[t] += routing.gates[t][j] * (at::matmul((up + 1) * gate * at::sigmoid(1.702 * gate), w.down.expert(e)) + w.down_bias[e]);
    }
  CHECK(at::allclose(fast, slow, 1e-4, 1e-4));
}

TEST_CASE("clamped_swiglu_experts: MXFP4 experts decoded per expert give the dequantized stack's output bit for bit") {
  // --mxfp4 keep: blocks (E, out, in/32, 16) and scales (E, out, in/32) as stored; the dense stack is
  // what the loader's dequantize path builds, (E, in, out).
  at::manual_seed(12);
  const int64_t T = 19, H = 64, I = 32, E = 6, k = 2;
  auto stored = [&](int64_t out, int64_t in) {
    layers::ExpertMatrices q;
    q.blocks = at::randint(0, 256, {E, out, in / kMxfp4BlockValues, kMxfp4BlockBytes}, at::kByte);
    q.scales = at::randint(122, 128, {E, out, in / kMxfp4BlockValues}, at::kByte);
    q.dtype = at::kFloat;
    return q;
  };
  layers::FusedExpertWeights kept{stored(2 * I, H), at::randn({E, 2 * I}), stored(H, I), at::randn({E, H})};
  layers::FusedExpertWeights dense = kept;
  dense.gate_up = layers::ExpertMatrices(dequantize_mxfp4(kept.gate_up.blocks, kept.gate_up.scales).transpose(1, 2).contiguous());
  dense.down = layers::ExpertMatrices(dequantize_mxfp4(kept.down.blocks, kept.down.scales).transpose(1, 2).contiguous());
  CHECK(kept.gate_up.num_experts() == E);
  CHECK(kept.bytes() * 3 < dense.bytes());
  at::Tensor x = at::randn({T, H});
  // Expert 3 receives no token (its logit far below): it is never decoded, and nothing changes.
  at::Tensor logits = at::randn({T, E});
  logits.select(1, 3).fill_(-100);
  auto routing = layers::topk_softmax(logits, static_cast<int>(k));
  CHECK(at::equal(layers::clamped_swiglu_experts(x, routing, kept, 1.702, 7.0),
                  layers::clamped_swiglu_experts(x, routing, dense, 1.702, 7.0)));
}

TEST_CASE("rope_frequencies: longrope picks short or long factors by the batch's length, with their mscale") {
  // The phimoe fixture's setting: rot_dim 8, theta 100, original context 16.
  RopeScaling s;
  s.type = RopeType::kLongRope;
  s.original_max_position_embeddings = 16;
  s.short_factor = {1.0, 1.25, 1.5, 2.0};
  s.long_factor = {1.5, 2.0, 3.0, 4.0};
  s.short_mscale = 1.1;
  s.long_mscale = 1.3;
  auto short_f = layers::rope_frequencies(8, 100.0, s, 16);  // 16 positions: not beyond the original context
  auto long_f = layers::rope_frequencies(8, 100.0, s, 17);
  auto got_short = doubles(short_f.inv_freq), got_long = doubles(long_f.inv_freq);
  for (int i = 0; i < 4; ++i) {
    CHECK(got_short[i] == doctest::Approx(std::pow(100.0, -i / 4.0) / s.short_factor[i]).epsilon(1e-6));
    CHECK(got_long[i] == doctest::Approx(std::pow(100.0, -i / 4.0) / s.long_factor[i]).epsilon(1e-6));
  }
  CHECK(short_f.attention_factor == 1.1);
  CHECK(long_f.attention_factor == 1.3);
  // rope_tables reads the batch's largest position: 0..16 (17 positions) takes the long factors.
  at::Tensor positions = at::arange(17, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);  // (1, 17)
  layers::RopeTables t = layers::rope_tables(positions, 8, 100.0, s, at::kFloat);
  CHECK(t.cos[0][2][1].item<double>() == doctest::Approx(1.3 * std::cos(2 * std::pow(100.0, -0.25) / 2.0)).epsilon(1e-6));
  layers::RopeTables t16 = layers::rope_tables(positions.narrow(1, 0, 16), 8, 100.0, s, at::kFloat);
  CHECK(t16.cos[0][2][1].item<double>() == doctest::Approx(1.1 * std::cos(2 * std::pow(100.0, -0.25) / 1.25)).epsilon(1e-6));
}

TEST_CASE("layer_norm: mean and variance over the last axis, weight and bias") {
  // x = (1, 3): mean 2, variance 1 → (-1, 1) / sqrt(1 + eps); × (2, 3) + (0.5, -0.5).
  at::Tensor y = layers::layer_norm(floats({1.f, 3.f}, {1, 2}), floats({2.f, 3.f}, {2}), floats({0.5f, -0.5f}, {2}), 0.0);
  CHECK(y[0][0].item<float>() == doctest::Approx(-1.5));
  CHECK(y[0][1].item<float>() == doctest::Approx(2.5));
}
