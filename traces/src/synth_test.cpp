#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

#include "moesim/traces/synth.hpp"
#include "moesim/traces/trace_reader.hpp"
#include "moesim/traces/trace_stats.hpp"
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;
using namespace moesim::traces;

TEST_CASE("zipf popularity follows rank^-s exactly when layers do not vary") {
  SynthOptions o;
  o.experts = 4;
  o.load = LoadModel::kZipf;
  o.zipf_s = 1.0;
  o.layer_variation = 0;
  auto p = expert_popularity(o, 0);
  double h = 1 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4;  // harmonic number H_4 = 25/12
  CHECK(p[0] == doctest::Approx(1 / h));
  CHECK(p[3] == doctest::Approx(0.25 / h));
}

TEST_CASE("hot experts get their share; the rest is spread evenly") {
  SynthOptions o;
  o.experts = 5;
  o.load = LoadModel::kHot;
  o.hot = {{2, 0.6}};
  o.layer_variation = 0;
  auto p = expert_popularity(o, 0);
  CHECK(p[2] == doctest::Approx(0.6));
  CHECK(p[0] == doctest::Approx(0.1));
  CHECK_THROWS_AS(([&] { o.hot = {{7, 0.5}}; expert_popularity(o, 0); }()), std::invalid_argument);
}

TEST_CASE("synthetic traces: distinct experts per token, reproducible, loads follow the model") {
  const fs::path& dir = moesim::testing::scratch_dir();
  SynthOptions o;
  o.layers = 2;
  o.experts = 8;
  o.top_k = 2;
  o.tokens = 20000;
  o.steps = 3;
  o.load = LoadModel::kHot;
  o.hot = {{5, 0.5}};
  o.layer_variation = 0;
  o.seed = 7;
  write_synthetic_trace(dir / "a.h5", o, "test");
  write_synthetic_trace(dir / "b.h5", o, "test");
  TraceReader a(dir / "a.h5"), b(dir / "b.h5");
  CHECK(a.header().num_steps == 3);
  CHECK(a.step_offsets() == std::vector<std::uint64_t>{0, 6667, 13334, 20000});
  auto la = a.read_layer(1, 0, o.tokens), lb = b.read_layer(1, 0, o.tokens);
  CHECK(la.expert_ids == lb.expert_ids);  // same seed, same trace
  std::uint64_t repeats = 0;
  for (std::uint64_t t = 0; t < la.tokens(); ++t) repeats += la.expert_ids[2 * t] == la.expert_ids[2 * t + 1];
  CHECK(repeats == 0);
  // Expert 5 has p = 0.5, so it is the first pick in half the tokens and, by the without-
  // replacement second draw, appears in P = 0.5 + 0.5 * (0.5 / (1 - 1/14)) ≈ 0.769 of tokens:
  // each cold expert has p = 1/14; second draw after a cold first pick: 0.5 / (1 - 1/14) = 0.5385.
  auto stats = compute_stats(a, {});
  double share5 = static_cast<double>(stats.layers[0].loads[5]) / o.tokens;
  CHECK(share5 == doctest::Approx(0.5 + 0.5 * 0.5 / (1 - 1.0 / 14)).epsilon(0.02));
  // Top-1 (column 0) is the first draw: expert 5 in half the tokens, each cold expert in 1/14.
  double top1_share5 = static_cast<double>(stats.layers[0].top1_loads[5]) / o.tokens;
  CHECK(top1_share5 == doctest::Approx(0.5).epsilon(0.03));
  CHECK(static_cast<double>(stats.layers[0].top1_loads[0]) / o.tokens == doctest::Approx(1.0 / 14).epsilon(0.1));
  // Gates decrease along each row.
  std::uint64_t unsorted = 0;
  auto gl = a.read_layer(0, 0, o.tokens);
  for (std::uint64_t t = 0; t < gl.tokens(); ++t) unsorted += gl.gates[2 * t] < gl.gates[2 * t + 1];
  CHECK(unsorted == 0);
}

TEST_CASE("synthetic traces: a step drawn in slices is the trace drawn in one piece") {
  // Each layer draws from its own stream in token order, so slicing a step (what bounds
  // `trace synth`'s memory) must not change a single id or gate. 8 bytes per pair and layer:
  // slice_bytes 160 = 5 tokens per slice, steps of 33 and 34 tokens end mid-slice.
  const fs::path& dir = moesim::testing::scratch_dir();
  SynthOptions o;
  o.layers = 2;
  o.experts = 16;
  o.top_k = 2;
  o.tokens = 67;
  o.steps = 2;
  o.load = LoadModel::kZipf;
  o.zipf_s = 1.2;
  write_synthetic_trace(dir / "whole.h5", o, "test");
  o.slice_bytes = 160;
  write_synthetic_trace(dir / "sliced.h5", o, "test");
  TraceReader whole(dir / "whole.h5"), sliced(dir / "sliced.h5");
  CHECK(sliced.step_offsets() == whole.step_offsets());
  CHECK(sliced.step_offsets() == std::vector<std::uint64_t>{0, 34, 67});
  for (int layer = 0; layer < 2; ++layer) {
    auto a = whole.read_layer(layer, 0, o.tokens), b = sliced.read_layer(layer, 0, o.tokens);
    CHECK(a.expert_ids == b.expert_ids);
    CHECK(a.gates == b.gates);
  }
  CHECK(whole.read_tokens(0, o.tokens).position == sliced.read_tokens(0, o.tokens).position);
}

TEST_CASE("synthetic traces: group-limited routing keeps each token inside its top groups") {
  // DeepEP's internode test at EP64: 256 experts in 8 groups (one per node), top-4 groups, top-8.
  const fs::path& dir = moesim::testing::scratch_dir();
  SynthOptions o;
  o.layers = 1;
  o.experts = 256;
  o.top_k = 8;
  o.groups = 8;
  o.topk_groups = 4;
  o.tokens = 4000;
  write_synthetic_trace(dir / "grouped.h5", o, "test");
  TraceReader r(dir / "grouped.h5");
  auto l = r.read_layer(0, 0, o.tokens);
  double groups_used = 0;
  std::uint64_t too_many = 0, repeats = 0;
  for (std::uint64_t t = 0; t < l.tokens(); ++t) {
    std::set<int> groups, experts;
    for (int j = 0; j < 8; ++j) groups.insert(l.expert_ids[8 * t + j] / 32), experts.insert(l.expert_ids[8 * t + j]);
    too_many += groups.size() > 4;
    repeats += experts.size() != 8;
    groups_used += static_cast<double>(groups.size());
  }
  CHECK(too_many == 0);
  CHECK(repeats == 0);
  // Uniform 8 of the 128 experts of 4 groups: a group is missed with C(96,8)/C(128,8) = 0.0927.
  CHECK(groups_used / o.tokens == doctest::Approx(4 * (1 - 0.0927)).epsilon(0.01));
  o.topk_groups = 9;
  CHECK_THROWS_AS(write_synthetic_trace(dir / "bad.h5", o, "test"), std::invalid_argument);
}
