// Trace replay end to end on synthetic traces (real HDF5 files, real SimGrid runs).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "moesim/common/error.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/traces/synth.hpp"
#include "moesim/traces/trace_reader.hpp"
#include "moesim/traces/trace_writer.hpp"
#include "moesim/testing/scratch.hpp"

#include <random>

using namespace moesim::sim;
namespace fs = std::filesystem;

namespace {
constexpr int kHidden = 64;

fs::path synth_trace(const std::string& name, moesim::traces::SynthOptions o) {
  fs::path p = moesim::testing::scratch_path(name + ".h5");
  moesim::traces::write_synthetic_trace(p, o, "replay_trace_test");
  return p;
}

moesim::traces::SynthOptions small_trace() {
  moesim::traces::SynthOptions o;
  o.layers = 2;
  o.experts = 8;
  o.top_k = 2;
  o.hidden_size = kHidden;
  o.tokens = 512;
  o.steps = 2;
  o.seq_len = 128;
  o.seed = 7;
  return o;
}

PlatformSource switch4() { return moesim::topologies::parse_platform_source("switch:4:10e9:2e-6"); }
}  // namespace

TEST_CASE("trace replay conserves bytes: tokens × k × bytes per token, minus deduplicated copies") {
  auto trace = synth_trace("conserve", small_trace());
  TraceReplayOptions t;
  t.dedup = false;
  auto r = replay_trace(trace, switch4(), t, ReplayOptions{});
  CHECK(r.a2a_rows.size() == 2 * 2 * 2);  // steps × layers × (dispatch, combine)
  CHECK(r.tokens == 512 * 2);             // every token, in each of the 2 layers
  CHECK(r.assignments == 512 * 2 * 2);
  CHECK(r.dispatch_bytes_total == doctest::Approx(512.0 * 2 * 2 * kHidden * 1));  // FP8 dispatch by default
  // Combine carries the same token copies back at BF16: twice the network bytes of its dispatch.
  for (std::size_t i = 0; i + 1 < r.a2a_rows.size(); i += 2)
    CHECK(r.a2a_rows[i + 1].network_bytes == doctest::Approx(2 * r.a2a_rows[i].network_bytes));

  t.dedup = true;
  auto d = replay_trace(trace, switch4(), t, ReplayOptions{});
  CHECK(d.dispatch_bytes_total == doctest::Approx(d.token_copies_sent * kHidden));
  CHECK(d.dispatch_bytes_total < r.dispatch_bytes_total);  // top-2 of 8 experts on 4 GPUs: pairs do share GPUs
  fs::remove(trace);
}

TEST_CASE("trace replay: expert compute delays each GPU's combine by its tokens × FLOPs / rate") {
  auto trace = synth_trace("compute", small_trace());
  // Independent count: (token, expert) pairs per GPU in step 0, layer 0, contiguous placement (2 experts per GPU).
  moesim::traces::TraceReader reader(trace);
  auto block = reader.read_step(0, 0);
  std::vector<double> per_gpu(4, 0.0);
  for (auto e : block.expert_ids) per_gpu[e / 2] += 1;
  ReplayOptions opt;
  opt.flops_per_token = 2e6;
  opt.gpu_flops = 1e12;
  TraceReplayOptions t;
  t.layers = {0};
  t.max_steps = 1;
  auto r = replay_trace(trace, switch4(), t, opt);
  REQUIRE(r.gpu_rows.size() == 2 * 4);
  for (int g = 0; g < 4; ++g) {
    const auto& dispatch = r.gpu_rows[g];
    const auto& combine = r.gpu_rows[4 + g];
    CHECK(combine.start_s - dispatch.finish_s == doctest::Approx(per_gpu[g] * 2e6 / 1e12).epsilon(1e-9));
  }
  fs::remove(trace);
}

TEST_CASE("trace replay: by-sequence spread puts whole sequences on GPUs") {
  auto trace = synth_trace("spread", small_trace());  // 256 tokens per step = 2 sequences of 128
  TraceReplayOptions t;
  t.spread = TokenSpread::kSequence;
  t.max_steps = 1;
  t.layers = {0};
  auto r = replay_trace(trace, switch4(), t, [] { ReplayOptions o; o.balanced_reference = false; return o; }());
  // Sequence 0 starts on GPU 0, sequence 1 on GPU 2: GPUs 1 and 3 dispatch nothing.
  CHECK(r.gpu_rows[1].bytes_out == 0);
  CHECK(r.gpu_rows[3].bytes_out == 0);
  CHECK(r.gpu_rows[0].bytes_out > 0);
  CHECK(r.gpu_rows[2].bytes_out > 0);
  fs::remove(trace);
}

TEST_CASE("trace replay: EPLB spreads a hot expert and lowers the most any GPU receives") {
  auto o = small_trace();
  o.tokens = 2048;
  o.load = moesim::traces::LoadModel::kHot;
  o.hot = {{0, 0.6}};  // expert 0 gets 60% of all picks
  o.layer_variation = 0;
  auto trace = synth_trace("eplb", o);
  TraceReplayOptions t;
  t.max_steps = 1;
  t.layers = {0};
  ReplayOptions opt;
  opt.balanced_reference = false;
  auto contiguous = replay_trace(trace, switch4(), t, opt);
  t.placement = PlacementKind::kEplb;
  t.redundant_experts = 4;  // 12 replicas, 3 per GPU
  auto eplb = replay_trace(trace, switch4(), t, opt);
  CHECK(eplb.a2a_rows[0].max_bytes_in < 0.75 * contiguous.a2a_rows[0].max_bytes_in);
  CHECK(eplb.a2a_rows[0].time_s < contiguous.a2a_rows[0].time_s);
  // The straggler of the contiguous layout hosts the hot expert.
  CHECK(contiguous.a2a_rows[0].straggler_gpu == 0);
  CHECK(contiguous.a2a_rows[0].top_expert[0] == 0);
  fs::remove(trace);
}

TEST_CASE("trace replay: bad inputs are one-line input errors") {
  auto trace = synth_trace("bad", small_trace());
  TraceReplayOptions t;
  t.layers = {5};
  CHECK_THROWS_WITH_AS(replay_trace(trace, switch4(), t, ReplayOptions{}),
                       doctest::Contains("layer 5 does not exist (the trace has MoE layers 0..1)"), moesim::InputError);
  t.layers = {};
  t.placement = PlacementKind::kFile;
  t.placement_file = moesim::testing::scratch_path("placement.json");
  std::ofstream(t.placement_file) << R"({"experts": [[0], [1], [2], [3]]})";
  CHECK_THROWS_WITH_AS(replay_trace(trace, switch4(), t, ReplayOptions{}), doctest::Contains("lists 4 experts, the model has 8"),
                       moesim::InputError);
  t.placement = PlacementKind::kContiguous;
  t.ep_gpus = 8;
  CHECK_THROWS_WITH_AS(replay_trace(trace, switch4(), t, ReplayOptions{}),
                       doctest::Contains("the platform has 4 GPUs, fewer than the expert-parallel degree 8"),
                       moesim::InputError);
  fs::remove(t.placement_file);
  fs::remove(trace);
}

namespace {
// One layer, 2 experts (expert g on GPU g), top-2, one step of 4 tokens: tokens 0 and 1 start on
// GPU 0, tokens 2 and 3 on GPU 1 (even spread). Every token lists both experts; `kept` says which
// pairs the strategy kept (empty: no mask in the file).
fs::path two_gpu_trace(const std::string& name, const std::vector<std::uint8_t>& kept) {
  fs::path p = moesim::testing::scratch_path(name + ".h5");
  moesim::traces::TraceHeader h;
  h.model = "hand";
  h.architecture = "synthetic";
  h.num_layers = 1;
  h.num_experts = 2;
  h.top_k = 2;
  h.hidden_size = kHidden;
  h.has_kept_mask = !kept.empty();
  moesim::traces::TraceWriter w(p, h);
  std::vector<std::int32_t> seq = {0, 0, 1, 1}, pos = {0, 1, 0, 1};
  std::vector<std::int32_t> ids = {0, 1, 0, 1, 1, 0, 1, 0};
  std::vector<float> gates(8, 0.5f);
  std::vector<moesim::traces::LayerRouting> r = {{ids, gates, {}, kept}};
  w.append_step({seq, pos, {}}, r);
  w.close();
  return p;
}
}  // namespace

TEST_CASE("trace replay skips dropped pairs: closed-form time of a tiny trace") {
  // 1 MB per token copy out, 2 MB back, on a 10 GB/s switch with 2 us latency. Without a mask each
  // GPU sends its 2 tokens to the other GPU: 2 MB each way, dispatch 2e6/1e10 + 2e-6 s.
  TraceReplayOptions t;
  t.dispatch_bytes_per_token = 1e6;
  t.combine_bytes_per_token = 2e6;
  t.dedup = false;
  const auto platform = moesim::topologies::parse_platform_source("switch:2:10e9:2e-6");
  auto all = two_gpu_trace("all_kept", {});
  auto r = replay_trace(all, platform, t, ReplayOptions{});
  REQUIRE(r.a2a_rows.size() == 2);
  CHECK(r.a2a_rows[0].time_s == doctest::Approx(2e6 / 10e9 + 2e-6).epsilon(1e-9));
  CHECK(r.assignments == 8);
  // Drop every remote pair but token 3's to expert 0: GPU 0 sends nothing, GPU 1 sends one copy.
  auto masked = two_gpu_trace("masked", {1, 0, 1, 0, 1, 0, 1, 1});
  auto m = replay_trace(masked, platform, t, ReplayOptions{});
  REQUIRE(m.a2a_rows.size() == 2);
  CHECK(m.assignments == 5);
  CHECK(m.tokens == 4);
  CHECK(m.dispatch_bytes_total == doctest::Approx(5 * 1e6));     // kept pairs × bytes per token
  CHECK(m.a2a_rows[0].network_bytes == doctest::Approx(1e6));     // the one remote kept pair
  CHECK(m.a2a_rows[0].time_s == doctest::Approx(1e6 / 10e9 + 2e-6).epsilon(1e-9));
  CHECK(m.a2a_rows[1].time_s == doctest::Approx(2e6 / 10e9 + 2e-6).epsilon(1e-9));  // combine: 2 MB back
  fs::remove(all);
  fs::remove(masked);
}

TEST_CASE("trace replay with a kept mask conserves bytes: kept pairs × bytes per token, minus dedup") {
  // 512 tokens of top-2 over 8 experts on 4 GPUs, a seeded random third of the pairs dropped.
  fs::path p = moesim::testing::scratch_path("conserve_kept.h5");
  moesim::traces::TraceHeader h;
  h.num_layers = 1, h.num_experts = 8, h.top_k = 2, h.hidden_size = kHidden, h.has_kept_mask = true;
  const int T = 512;
  std::mt19937 rng(3);
  std::vector<std::int32_t> seq(T), pos(T), ids(2 * T);
  std::vector<std::uint8_t> kept(2 * T);
  std::uint64_t kept_pairs = 0;
  for (int t = 0; t < T; ++t) {
    seq[t] = t / 128, pos[t] = t % 128;
    ids[2 * t] = static_cast<std::int32_t>(rng() % 8);
    ids[2 * t + 1] = (ids[2 * t] + 1 + static_cast<std::int32_t>(rng() % 7)) % 8;
    for (int j = 0; j < 2; ++j) {
      kept[2 * t + j] = rng() % 3 != 0 ? 1 : 0;
      kept_pairs += kept[2 * t + j];
    }
  }
  std::vector<float> gates(2 * T, 0.5f);
  {
    moesim::traces::TraceWriter w(p, h);
    std::vector<moesim::traces::LayerRouting> r = {{ids, gates, {}, kept}};
    w.append_step({seq, pos, {}}, r);
    w.close();
  }
  TraceReplayOptions t;
  t.dedup = false;
  auto r = replay_trace(p, switch4(), t, ReplayOptions{});
  CHECK(r.assignments == kept_pairs);
  CHECK(r.dispatch_bytes_total == doctest::Approx(static_cast<double>(kept_pairs) * kHidden));
  t.dedup = true;
  auto d = replay_trace(p, switch4(), t, ReplayOptions{});
  // Deduplication removes exactly the kept pairs of one token whose two experts share a GPU.
  std::uint64_t shared = 0;
  for (int i = 0; i < T; ++i) shared += kept[2 * i] && kept[2 * i + 1] && ids[2 * i] / 2 == ids[2 * i + 1] / 2;
  CHECK(d.dispatch_bytes_total == doctest::Approx(static_cast<double>(kept_pairs - shared) * kHidden));
  fs::remove(p);
}
