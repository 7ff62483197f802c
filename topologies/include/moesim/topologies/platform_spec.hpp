#pragma once
// What a platform file says, validated once at load and resolved to SI units (bytes/s, seconds).
// After load_platform_spec() returns, every field is in range: code downstream only asserts.
//
//   GPU ─nvlink─┐                        one node (nodes × this)
//   GPU ─nvlink─┼─ NVSwitch  (or a direct GPU↔GPU mesh)
//   GPU ─nvlink─┘
//   GPU ─(pcie)─ NIC ─── scale-out network: one switch, a 2/3-tier fat-tree, or rail-optimized leaves
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace moesim::topologies {

// Limits on any platform, from a file or built in code: larger is possible, not plausible, and a typo
// (10^6 nodes x 8 GPUs) would otherwise ask for gigabytes before any check.
inline constexpr long kMaxPlatformCount = 1'000'000;   // nodes, links, NICs
inline constexpr long kMaxPlatformGpusPerNode = 1024;
inline constexpr long kMaxPlatformGpus = 1 << 17;     // 131,072 GPUs in all

enum class IntraNodeFabric { nvswitch, mesh };
enum class ScaleOutTopology { none, single_switch, fat_tree, rail_optimized };

struct NodeSpec {
  int gpus = 1;
  IntraNodeFabric fabric = IntraNodeFabric::nvswitch;
  int links = 1;                 // nvswitch: NVLinks per GPU; mesh: links per GPU pair
  double link_bandwidth_Bps = 0; // one link, one direction
  double latency_s = 0;          // GPU -> GPU one-way inside the node
  // Network interfaces towards other nodes (absent on a single-node platform).
  int nics = 0;                  // per node; GPU i uses NIC i / (gpus / nics)
  double nic_bandwidth_Bps = 0;  // one NIC, one direction
  double nic_latency_s = 0;      // NIC + host stack, per traversal (sender and receiver each pay it)
  double pcie_bandwidth_Bps = 0; // GPU <-> NIC PCIe link; 0 = not modelled (GPUDirect at NIC speed)
  // Optional limits measured on real collectives (0 = not modelled):
  double duplex_bandwidth_Bps = 0;  // node.duplex_bandwidth: one GPU's send + receive together, over
                                    // all its links (the SMs / copy engines serve both directions)
  double flow_bandwidth_Bps = 0;    // node.nvswitch.flow_bandwidth: the most one GPU -> GPU flow moves
                                    // (NCCL's per-peer limit: a bounded number of channels per peer)
  double local_copy_bandwidth_Bps = 0;  // node.local_copy_bandwidth: the GPU's copy to itself (the
                                        // all-to-all's diagonal); 0 = the diagonal costs nothing

  double gpu_link_Bps() const { return links * link_bandwidth_Bps; }  // nvswitch: GPU <-> switch
};

// One tier of switches, counted from the leaves (tier 0) up.
struct TierSpec {
  double link_latency_s = 0;    // cable from the tier below into this tier
  double switch_latency_s = 0;  // one traversal of a switch of this tier
  double oversubscription = 1;  // down:up port ratio of this tier's switches (top tier: 1)
};

struct ScaleOutSpec {
  ScaleOutTopology topology = ScaleOutTopology::none;
  int switch_radix = 0;           // ports per switch (fat_tree, rail_optimized)
  double port_bandwidth_Bps = 0;  // switch-to-switch links; NIC links use the NIC bandwidth
  std::vector<TierSpec> tiers;    // single_switch: 1, fat_tree: 2 or 3, rail_optimized: 2 (rail leaves, spines) or 3 (rail leaves, pod aggregation, core)
};

// One point of a size-dependent bandwidth factor: a flow of `message_bytes` achieves `factor` of
// nominal bandwidth (between points: linear in log(message size); beyond the ends: the end's factor).
struct BandwidthFactorPoint {
  double message_bytes = 0;
  double factor = 1;
};

struct CalibrationSpec {
  double bandwidth_factor = 1;  // SimGrid network/bandwidth-factor: fraction of nominal bandwidth achieved
  double latency_factor = 1;    // SimGrid network/latency-factor
  // calibration.bandwidth_factors: per-flow factor by message size (multiplies bandwidth_factor);
  // empty = one factor for every size. Sizes strictly increasing, factors in (0, 1].
  std::vector<BandwidthFactorPoint> bandwidth_factors;
  // calibration.source: where the figures come from ("analysis/studies/validation/h100x4/results.json,
  // 2026-11-26", or "nominal: datasheet values"). Empty or starting with "nominal" = not measured.
  std::string source;

  bool nominal() const;

  // The factor a flow of `message_bytes` gets: bandwidth_factor x the interpolated table value.
  double bandwidth_factor_for(double message_bytes) const;
};

// A degraded or failed link, named as `moesim topo inspect --links` lists them.
struct LinkOverride {
  std::string link;
  std::optional<double> bandwidth_Bps;
  std::optional<double> latency_s;
  bool failed = false;
  int line = 0, column = 0;  // where it was written, for errors found later (unknown link name)
  std::filesystem::path file;
};

struct PlatformSpec {
  std::string name;
  std::string description;
  std::filesystem::path file;  // the file given by the user (after extends: resolution)
  int nodes = 1;
  NodeSpec node;
  ScaleOutSpec scale_out;
  CalibrationSpec calibration;
  std::vector<LinkOverride> link_overrides;

  int gpu_count() const { return nodes * node.gpus; }
  int gpus_per_nic() const { return node.nics > 0 ? node.gpus / node.nics : 0; }
};

// Reads a YAML platform file (following `extends:`), checks every key, unit and range.
// Throws moesim::InputError "file:line:col: message" on the first problem.
PlatformSpec load_platform_spec(const std::filesystem::path& file);

// Where presets live: $MOESIM_PLATFORMS if set, else the source tree's platforms/ folder.
std::filesystem::path presets_dir();
// A path as given, or a preset name ("h100-nvswitch-4gpu") resolved in presets_dir().
std::filesystem::path resolve_platform_path(const std::string& name_or_path,
                                            const std::filesystem::path& relative_to = {});
std::vector<std::filesystem::path> list_presets();

const char* to_string(ScaleOutTopology t);
const char* to_string(IntraNodeFabric f);

}  // namespace moesim::topologies
