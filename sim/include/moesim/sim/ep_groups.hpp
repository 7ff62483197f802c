#pragma once
// Whole clusters (`moesim replay --ep-size G`): the platform's GPUs split into expert-parallel groups
// of G GPUs that run their all-to-alls at the same time over the shared fabric, each group's
// figures reported per group and against the same group replayed alone.
//
//   what a group replays  the trace is one EP group's batch, as `replay --gpus G` reads it (its tokens
//                         spread over G GPUs, the placement computed for G GPUs). Group k replays it
//                         rotated by k: its local GPU i does what the trace's GPU (i + k) mod G does
//                         (sends, receives, computes). Every group thus carries the same skew (one
//                         router, batches of one distribution) but has its hot GPUs at other local
//                         indices, so their hot spots land on different nodes / rails of the fabric.
//                         Cheap: one layer_traffic per layer for all groups, not one per group.
//   layouts               packed: group k = GPUs kG .. kG+G-1 (whole nodes, then neighbouring nodes:
//                         a rack); spread: GPUs taken in the order (local index, node) -- group 0 is
//                         GPU 0 of nodes 0..G-1, i.e. one GPU per node on rail 0 while G <= nodes
//                         (then rail 1 of the same nodes, ...)
//   timing                per (step, layer), every GPU dispatches at 0; its combine starts when its
//                         dispatch is done and its experts have computed; sim/README.md's Definitions
//                         per group: an all-to-all's time is the largest per-GPU (finish - own start)
//                         among the group's GPUs, the layer's its last combine finish. All groups'
//                         dispatch flows are one simulation, their combines another (as ReplayEngine
//                         runs one all-to-all's phases).
//   alone                 group 0 replayed alone on the same GPUs of the same platform (nothing else
//                         on the fabric): one extra simulation per layer. The cross-group slowdown of
//                         group k is its time together / group 0's alone (the groups' traffic is the
//                         same up to the rotation; on a fabric that treats all groups alike it is
//                         each group's own slowdown, exact for group 0).
//   algorithms            direct only (all groups' flows in one run); others are refused.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "moesim/sim/algorithm.hpp"
#include "moesim/sim/replay.hpp"

namespace moesim::sim {

enum class EpLayout { kPacked, kSpread };
// "packed" or "spread"; throws InputError otherwise.
EpLayout parse_ep_layout(const std::string& name);
const char* to_string(EpLayout layout);

// members[k * ep_size + i] = the platform GPU that is local GPU i of group k; gpus % ep_size == 0.
std::vector<int> ep_group_members(int gpus, int gpus_per_node, int ep_size, EpLayout layout);

// One layer of every group: per group, dispatch time, combine time, layer time (seconds).
struct EpLayerTimes {
  std::vector<double> dispatch_s, combine_s, layer_s;
};
// Simulates w (a G-GPU layer: dispatch, combine, compute) for groups 0 .. groups-1 of `members` at
// once on `net` (direct algorithm, group k rotated by k as above).
EpLayerTimes simulate_ep_layer(FlowNetwork& net, const LayerWork& w, std::span<const int> members, int ep_size,
                               int groups, const A2AOptions& options);

struct EpGroupsOptions {
  int ep_size = 0;  // G
  EpLayout layout = EpLayout::kPacked;
};

struct EpGroupsResult {
  std::string platform, engine, layout;
  int gpus = 0, ep_size = 0, groups = 0;
  ResolvedSettings settings;
  std::vector<int> members;  // as ep_group_members
  // Per (step, layer): per group together, and group 0 alone.
  struct Layer {
    int step = 0, layer = 0;
    EpLayerTimes together, alone;
  };
  std::vector<Layer> layers;
  std::uint64_t flows_simulated = 0;
  double sim_cpu_s = 0, sim_wall_s = 0, sim_peak_rss_bytes = 0;
};

EpGroupsResult replay_ep_groups(const std::filesystem::path& trace, const topologies::PlatformSource& platform,
                                const TraceReplayOptions& trace_options, const ReplayOptions& options,
                                const EpGroupsOptions& groups);

// Per group P99 over layers of dispatch / combine / layer time and its slowdown against group 0 alone.
nlohmann::json to_json(const EpGroupsResult& r);
std::string human_report(const EpGroupsResult& r);
// --out DIR (ep_groups_io.cpp): summary.json (to_json + config) and groups.csv (step, layer, run
// together|alone, group, dispatch_s, combine_s, layer_s), as one folder replaced in one step.
std::string groups_csv(const EpGroupsResult& r);
void write_ep_group_outputs(const std::filesystem::path& dir, const EpGroupsResult& r, const nlohmann::json& config);

}  // namespace moesim::sim
