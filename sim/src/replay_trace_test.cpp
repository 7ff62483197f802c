// Trace replay end to end on synthetic traces (real HDF5 files, real SimGrid runs).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "moesim/common/error.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/traces/synth.hpp"
#include "moesim/traces/trace_reader.hpp"

using namespace moesim::sim;
namespace fs = std::filesystem;

namespace {
constexpr int kHidden = 64;

fs::path synth_trace(const std::string& name, moesim::traces::SynthOptions o) {
  fs::path p = fs::temp_directory_path() / ("moesim_replay_" + std::to_string(::getpid()) + "_" + name + ".h5");
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

PlatformSource switch4() { return parse_platform_source("switch:4:10e9:2e-6"); }
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
  auto r = replay_trace(trace, switch4(), t, ReplayOptions{{"direct"}, {}, 0, 0, false});
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
  t.placement_file = fs::temp_directory_path() / ("moesim_place_" + std::to_string(::getpid()) + ".json");
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
