#pragma once
// The replay engine: for every step and MoE layer, dispatch all-to-all → expert compute (optional)
// → combine all-to-all (the dispatch traffic reversed), simulated in SimGrid; plus, for every
// all-to-all, the balanced reference (same network bytes spread evenly, also simulated) and the
// bandwidth lower bound. Layers are separated by a barrier: the next layer's dispatch starts when
// every GPU has finished the previous combine.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moesim/sim/algorithm.hpp"
#include "moesim/sim/layer_traffic.hpp"
#include "moesim/sim/placement.hpp"
#include "moesim/sim/replay_result.hpp"
#include "moesim/sim/start_offsets.hpp"
#include "moesim/sim/traffic_matrix.hpp"
#include "moesim/topologies/platform_source.hpp"

namespace moesim::sim {

using topologies::PlatformSource;

struct ReplayOptions {
  const A2AAlgorithm* algorithm = &direct_algorithm();  // find_algorithm() at the CLI boundary
  NetworkEngine engine = NetworkEngine::kSimgrid;
  // The fluid engine's approximate mode (--fluid-merge REL): completions within REL x elapsed time
  // are one event. 0 = exact (the default); sim/README.md has its measured error.
  double fluid_merge = 0;
  A2AOptions a2a;
  double flops_per_token = 0;  // expert FLOPs per (token, expert) pair; 0 = no compute between dispatch and combine
  double gpu_flops = 0;        // achieved FLOP/s of one GPU
  bool balanced_reference = true;
  bool reuse_identical = true;  // an all-to-all identical to one already simulated reuses its result
  bool progress = false;
  // When each GPU starts its dispatch (empty = every GPU at 0): start skew as an input
  // (--start-offsets), so it is not measured as transfer time. Phase times stay per GPU (finish minus
  // its own start); the layer runs from the first start.
  StartOffsets start_offsets;
  bool keep_matrices = false;  // --write-matrix: keep every layer's dispatch and combine matrices
  // Worker threads replaying a trace's (step, layer) blocks (--threads; fluid engine only, each
  // thread with its own solver). Results are the same bits whatever the count (sim/README.md, "Threads").
  int threads = 1;
};

// --threads' ceiling: far more than the cores of one machine, low enough that a typo is caught.
inline constexpr int kMaxThreads = 1024;

// One layer's work for the engine, built from a trace layer or a matrix.
struct LayerWork {
  int step = 0, layer = 0;
  TrafficMatrix dispatch;  // bytes
  TrafficMatrix combine;   // bytes
  // Token-level routing only (a trace, for algorithms that need it: deepep), else empty: bytes from
  // each GPU to its rail peer in every other node, once per token and node (A2ATraffic::node_once);
  // the combine's is the dispatch's transposed at the combine width.
  TrafficMatrix dispatch_node_once, combine_node_once;
  std::vector<double> compute_s;  // per GPU; empty = none
  // Per GPU: (expert, tokens) of the replicas it hosts, for straggler attribution; may be empty.
  std::vector<std::vector<std::pair<int, double>>> experts_by_gpu;
};

// Matrix input: one layer whose dispatch is `dispatch` and whose combine is its transpose scaled by
// combine_scale (e.g. 2 for an FP8 dispatch and a BF16 combine of a matrix given in dispatch bytes).
ReplayResult replay_matrix(const TrafficMatrix& dispatch, double combine_scale, const PlatformSource& platform,
                           int ep_gpus, const ReplayOptions& options);

enum class PlacementKind { kContiguous, kStrided, kEplb, kFile };
// "contiguous", "strided", "eplb"; anything else is a placement file. Throws InputError naming the
// built-in placements when the text is neither one of them nor an existing file.
PlacementKind parse_placement(const std::string& text);
const char* to_string(PlacementKind kind);

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

// The trace's selected (step, layer) blocks as LayerWork for `gpus` GPUs, in order (placement, token
// spread, dedup and bytes per token resolved as replay_trace does; `settings` receives them). The
// once-per-node matrices are filled when node_once_gpus_per_node > 0. Streams one block at a time;
// `fn` may move the LayerWork away (it is built anew for each block).
void for_each_trace_layer(const std::filesystem::path& trace, int gpus, const TraceReplayOptions& trace_options,
                          const ReplayOptions& options, int node_once_gpus_per_node, ResolvedSettings& settings,
                          const std::function<void(LayerWork&, const LayerTraffic&)>& fn);

// The core, for callers that already hold a built platform (inside the simulation process).
class ReplayEngine {
 public:
  ReplayEngine(FlowNetwork& net, int gpus, ReplayOptions options);
  void replay_layer(const LayerWork& work);
  ReplayResult& result() { return result_; }

 private:
  std::vector<double> simulate(const A2ATraffic& t, const std::vector<double>& ready_s);
  // What the algorithm puts on the wire (A2AAlgorithm::wire_bytes), the basis of bytes and bound.
  TrafficMatrix wire_bytes(const A2ATraffic& t) const;
  std::vector<double> done_lower_bounds_s(const TrafficMatrix& m, const std::vector<double>& ready_s);
  double route_latency_s(int src, int dst);
  double first_start_s() const;
  std::vector<double> start_s_;  // per GPU: its dispatch start (options_.start_offsets resolved)
  // done_lb_s: the per-GPU lower bounds of done_lower_bounds_s(m, ready_s), computed once here.
  A2ARow summarize(const LayerWork& w, Phase phase, const A2ATraffic& t, const std::vector<double>& ready_s,
                   const std::vector<double>& finish_s, std::vector<double>& done_lb_s);
  LayerRow summarize_layer(const LayerWork& w, const A2ARow& dispatch, const A2ARow& combine,
                           std::vector<double> dispatch_done_lb_s, const std::vector<double>& combine_finish_s);

  FlowNetwork& net_;
  int gpus_;
  ReplayOptions options_;
  ReplayResult result_;
  struct CacheEntry {
    A2ATraffic t;
    std::vector<double> ready_s, finish_s;
  };
  std::vector<std::pair<std::uint64_t, CacheEntry>> cache_;
  std::vector<float> latency_s_;  // (gpus, gpus), -1 = not looked up yet
  double latency_factor_ = 1;     // SimGrid's network/latency-factor, read once (not from worker threads)
};

}  // namespace moesim::sim
