#pragma once
// The replay engine: for every step and MoE layer, dispatch all-to-all → expert compute (optional)
// → combine all-to-all (the dispatch traffic reversed), simulated in SimGrid; plus, for every
// all-to-all, the balanced reference (same network bytes spread evenly, also simulated) and the
// bandwidth lower bound. Layers are separated by a barrier: the next layer's dispatch starts when
// every GPU has finished the previous combine.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "moesim/sim/algorithm.hpp"
#include "moesim/sim/builtin_platforms.hpp"
#include "moesim/sim/layer_traffic.hpp"
#include "moesim/sim/placement.hpp"
#include "moesim/sim/traffic_matrix.hpp"

namespace moesim::sim {

enum class Phase : std::int32_t { kDispatch = 0, kCombine = 1 };
const char* to_string(Phase p);

struct ReplayOptions {
  std::string algorithm = "direct";
  A2AOptions a2a;
  double flops_per_token = 0;  // expert FLOPs per (token, expert) pair; 0 = no compute between dispatch and combine
  double gpu_flops = 0;        // achieved FLOP/s of one GPU
  bool balanced_reference = true;
  bool reuse_identical = true;  // an all-to-all identical to one already simulated reuses its result
  bool progress = false;
  std::string engine = "simgrid";  // "simgrid" (reference) or "fluid" (our max-min solver over SimGrid's routes, for scale)
};

// Per (step, layer, phase, GPU). Times are relative to the layer's start.
struct GpuRow {
  std::int32_t step = 0, layer = 0, phase = 0, gpu = 0;
  double start_s = 0;   // when the GPU could start sending in this phase
  double finish_s = 0;  // when it had sent and received everything
  double bytes_out = 0, bytes_in = 0;  // over the network (its own diagonal excluded)
};

inline constexpr int kTopExperts = 3;

// Per all-to-all.
struct A2ARow {
  std::int32_t step = 0, layer = 0, phase = 0;
  std::int32_t straggler_gpu = -1;
  std::int32_t straggler_receives = 0;  // 1: the straggler's incoming bytes bound it more than its outgoing ones
  std::int32_t top_expert[kTopExperts] = {-1, -1, -1};  // experts on the straggler GPU, most tokens first
  double top_expert_tokens[kTopExperts] = {0, 0, 0};
  double time_s = 0;        // last finish - first start over GPUs: how long the layer waits
  double balanced_s = 0;    // the same network bytes spread evenly, simulated (0 if disabled)
  double bound_s = 0;       // bandwidth lower bound
  double network_bytes = 0;
  double max_bytes_in = 0, max_bytes_out = 0;
};

struct ReplayResult {
  std::string platform;
  std::string algorithm;
  std::string engine;
  int gpus = 0;
  std::vector<GpuRow> gpu_rows;
  std::vector<A2ARow> a2a_rows;
  std::uint64_t flows_simulated = 0;
  std::uint64_t a2a_simulated = 0;  // including balanced references
  std::uint64_t a2a_reused = 0;     // answered from an identical earlier all-to-all
  double tokens = 0, assignments = 0;           // replayed (trace input)
  double token_copies_sent = 0;                 // after dedup, network and local
  double dispatch_bytes_total = 0;              // including data that stays on its GPU
  double sim_cpu_s = 0;                         // CPU time (user + system) of the simulation process
  double sim_wall_s = 0;                        // wall time of the simulation process
  double sim_peak_rss_bytes = 0;
};

// One layer's work for the engine, built from a trace layer or a matrix.
struct LayerWork {
  int step = 0, layer = 0;
  TrafficMatrix dispatch;  // bytes
  TrafficMatrix combine;   // bytes
  std::vector<double> compute_s;  // per GPU; empty = none
  // Per GPU: (expert, tokens) of the replicas it hosts, for straggler attribution; may be empty.
  std::vector<std::vector<std::pair<int, double>>> experts_by_gpu;
};

// Matrix input: one layer whose dispatch is `dispatch` and whose combine is its transpose scaled by
// combine_scale (e.g. 2 for an FP8 dispatch and a BF16 combine of a matrix given in dispatch bytes).
ReplayResult replay_matrix(const TrafficMatrix& dispatch, double combine_scale, const PlatformSource& platform,
                           int ep_gpus, const ReplayOptions& options);

enum class PlacementKind { kContiguous, kStrided, kEplb, kFile };

struct TraceReplayOptions {
  int ep_gpus = 0;  // 0 = every GPU of the platform
  PlacementKind placement = PlacementKind::kContiguous;
  std::filesystem::path placement_file;
  int redundant_experts = 0;  // EPLB: extra replicas in total
  TokenSpread spread = TokenSpread::kEven;
  double dispatch_bytes_per_token = 0;  // 0 = hidden_size × 1 (FP8)
  double combine_bytes_per_token = 0;   // 0 = hidden_size × 2 (BF16)
  bool dedup = true;
  std::vector<int> layers;  // empty = all
  std::uint64_t max_steps = 0;  // 0 = all
};

ReplayResult replay_trace(const std::filesystem::path& trace, const PlatformSource& platform,
                          const TraceReplayOptions& trace_options, const ReplayOptions& options);

// The core, for callers that already hold a built platform (inside the simulation process).
class ReplayEngine {
 public:
  ReplayEngine(FlowNetwork& net, int gpus, ReplayOptions options);
  void replay_layer(const LayerWork& work);
  ReplayResult& result() { return result_; }

 private:
  std::vector<double> simulate(const TrafficMatrix& m, const std::vector<double>& ready_s);
  double bound_s(const TrafficMatrix& m);
  double route_latency_s(int src, int dst);
  A2ARow summarize(const LayerWork& w, Phase phase, const TrafficMatrix& m, const std::vector<double>& ready_s,
                   const std::vector<double>& finish_s);

  FlowNetwork& net_;
  int gpus_;
  ReplayOptions options_;
  const A2AAlgorithm& algorithm_;
  ReplayResult result_;
  struct CacheEntry {
    TrafficMatrix m;
    std::vector<double> ready_s, finish_s;
  };
  std::vector<std::pair<std::uint64_t, CacheEntry>> cache_;
  std::vector<float> latency_s_;  // (gpus, gpus), -1 = not looked up yet
  double latency_factor_ = 1;
};

// Serialisation across the simulation process boundary.
std::string serialize(const ReplayResult& r);
ReplayResult deserialize_result(const std::string& bytes);

}  // namespace moesim::sim
