// replay --threads: the same bits whatever the thread count, and a fluid layer's times independent
// of the layers simulated before it (real HDF5 traces, real SimGrid platforms, the fluid engine).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "moesim/common/error.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/sim/summary.hpp"
#include "moesim/testing/scratch.hpp"
#include "moesim/traces/synth.hpp"

using namespace moesim::sim;
namespace fs = std::filesystem;

namespace {

// Skewed routing (Zipf) over several steps and layers: blocks of unequal work, so that workers
// finish them out of order.
fs::path zipf_trace(const std::string& name) {
  moesim::traces::SynthOptions o;
  o.layers = 3;
  o.experts = 16;
  o.top_k = 4;
  o.hidden_size = 256;
  o.tokens = 3 * 1024;
  o.steps = 3;
  o.seq_len = 128;
  o.load = moesim::traces::LoadModel::kZipf;
  o.zipf_s = 1.2;
  o.seed = 11;
  fs::path p = moesim::testing::scratch_path(name + ".h5");
  moesim::traces::write_synthetic_trace(p, o, "replay_threads_test");
  return p;
}

// Two nodes of 4 GPUs: NVLink inside a node, a switch between them (routes of different lengths).
PlatformSource two_nodes() { return moesim::topologies::parse_platform_source("cluster:2:4"); }

ReplayOptions fluid_options(int threads) {
  ReplayOptions o;
  o.engine = NetworkEngine::kFluid;
  o.threads = threads;
  o.flops_per_token = 2e6;  // compute between dispatch and combine: combines start apart
  o.gpu_flops = 1e12;
  o.keep_matrices = true;
  return o;
}

// Every result field, bit for bit (== on doubles), except what the run cost (time, memory, work:
// each worker has its own cache of identical all-to-alls, so which ones it reuses depends on the
// blocks it happened to get) and the thread count itself.
bool same_results(const ReplayResult& a, const ReplayResult& b) {
  ResolvedSettings sa = a.settings, sb = b.settings;
  sa.threads = sb.threads = 1;
  return a.platform == b.platform && a.algorithm == b.algorithm && a.engine == b.engine && a.gpus == b.gpus &&
         sa == sb && a.gpu_rows == b.gpu_rows && a.a2a_rows == b.a2a_rows && a.layer_rows == b.layer_rows &&
         a.tokens == b.tokens && a.assignments == b.assignments && a.token_copies_sent == b.token_copies_sent &&
         a.dispatch_bytes_total == b.dispatch_bytes_total && a.dispatch_matrices == b.dispatch_matrices &&
         a.combine_matrices == b.combine_matrices;
}

std::string summary_of(const ReplayResult& r) {
  auto j = to_json(summarize(r), r);
  j.erase("simulation");
  j["settings"].erase("threads");
  return j.dump();
}

}  // namespace

TEST_CASE("replay --threads 1, 2 and 3 give the same rows and summaries, bit for bit") {
  auto trace = zipf_trace("threads");
  const TraceReplayOptions t;
  const ReplayResult one = replay_trace(trace, two_nodes(), t, fluid_options(1));
  REQUIRE(one.layer_rows.size() == 3 * 3);
  REQUIRE(one.gpu_rows.size() == 3 * 3 * 2 * 8);
  CHECK(one.settings.threads == 1);
  for (int threads : {2, 3}) {
    CAPTURE(threads);
    const ReplayResult many = replay_trace(trace, two_nodes(), t, fluid_options(threads));
    CHECK(many.settings.threads == threads);
    CHECK(same_results(many, one));
    CHECK(summary_of(many) == summary_of(one));
    // Rows in (step, layer) order whatever order the workers finished in.
    for (std::size_t i = 0; i < many.layer_rows.size(); ++i) {
      CHECK(many.layer_rows[i].step == static_cast<int>(i / 3));
      CHECK(many.layer_rows[i].layer == static_cast<int>(i % 3));
    }
  }
  // Without the cache every all-to-all is simulated once, whatever the thread count: the work is the same.
  ReplayOptions no_reuse = fluid_options(3);
  no_reuse.reuse_identical = false;
  const ReplayResult fresh = replay_trace(trace, two_nodes(), t, no_reuse);
  CHECK(same_results(fresh, one));
  CHECK(fresh.a2a_reused == 0);
  CHECK(fresh.a2a_simulated == one.a2a_simulated + one.a2a_reused);
  fs::remove(trace);
}

TEST_CASE("fluid engine: a layer's times do not depend on the layers simulated before it") {
  auto trace = zipf_trace("independent");
  TraceReplayOptions alone, after;
  alone.layers = {1};
  after.layers = {0, 1};
  alone.max_steps = after.max_steps = 1;
  ReplayOptions o = fluid_options(1);
  o.reuse_identical = false;  // layer 1 simulated, not answered from layer 0's all-to-alls
  const ReplayResult a = replay_trace(trace, two_nodes(), alone, o);
  const ReplayResult b = replay_trace(trace, two_nodes(), after, o);
  REQUIRE(a.gpu_rows.size() == 2 * 8);
  REQUIRE(b.gpu_rows.size() == 2 * 2 * 8);
  for (std::size_t i = 0; i < a.gpu_rows.size(); ++i) {
    const GpuRow& x = a.gpu_rows[i];
    const GpuRow& y = b.gpu_rows[i + 2 * 8];  // after layer 0's dispatch and combine rows
    CAPTURE(i);
    REQUIRE(y.layer == 1);
    CHECK(x.start_s == y.start_s);  // exact: the same bits
    CHECK(x.finish_s == y.finish_s);
  }
  CHECK(a.layer_rows[0].time_s == b.layer_rows[1].time_s);
  CHECK(a.a2a_rows[0].balanced_s == b.a2a_rows[2].balanced_s);
  fs::remove(trace);
}

TEST_CASE("fluid engine: an all-to-all answered from the cache is the one simulated again, bit for bit") {
  auto trace = zipf_trace("reuse");
  ReplayOptions reuse = fluid_options(1), again = fluid_options(1);
  again.reuse_identical = false;
  // Combine as wide as dispatch: a layer's combine moves the dispatch's bytes back, so its balanced
  // reference (the same bytes spread evenly) is the dispatch's, answered from the cache.
  TraceReplayOptions t;
  t.dispatch_bytes_per_token = t.combine_bytes_per_token = 256;
  const ReplayResult a = replay_trace(trace, two_nodes(), t, reuse);
  const ReplayResult b = replay_trace(trace, two_nodes(), t, again);
  REQUIRE(a.a2a_reused > 0);
  CHECK(same_results(a, b));
  fs::remove(trace);
}

TEST_CASE("replay --threads > 1 with the SimGrid engine is an input error") {
  auto trace = zipf_trace("simgrid");
  ReplayOptions o;
  o.threads = 2;
  CHECK_THROWS_WITH_AS(replay_trace(trace, two_nodes(), TraceReplayOptions{}, o),
                       doctest::Contains("--threads 2 needs --engine fluid"), moesim::InputError);
  fs::remove(trace);
}
