#pragma once
// The platform as a list of switches and links, derived from a PlatformSpec: the single source that
// the Boost graph checks, the SimGrid builder and the XML exporter all read, so that the three can
// never disagree about a link's name, bandwidth or latency.
//
// The scale-out network is described as a tree of switch *groups*: all switches of one tier that a
// flow can reach by ECMP form one vertex, and the links between two groups form one aggregated link
// whose bandwidth is their sum. This is the fluid (perfect ECMP) view of a fat-tree: it keeps
// per-tier capacities, oversubscription, hop counts and latencies exact, and lets SimGrid route a
// 4096-GPU platform hierarchically instead of storing N² routes.
//
//   fat_tree, 2 tiers                         fat_tree, 3 tiers
//          spine                                      core
//        /       \     leaf{l}/uplink               /      \      pod{p}/uplink
//    leaf0  ...  leafL                         pod0/agg ... podP/agg
//    / | \                                     /    \        leaf{l}/uplink
//  node zones (NICs)                       leaf    leaf
//
// rail_optimized: a "group" holds `nics` rail leaves (one per rail) and up to (radix down-ports)
// nodes; NCCL's PXN sends cross-rail traffic over NVLink to the rail-aligned GPU first, so every
// inter-node flow crosses one rail leaf: the rails of a group are one vertex `group{g}/rails`. With
// 3 tiers a pod holds whole groups (every rail leaf of the pod reaches each of its aggregation
// switches) and a core joins the pods, as in a 3-tier fat-tree: `group{g}/uplink`, `pod{p}/uplink`.
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "moesim/topologies/platform_spec.hpp"

namespace moesim::topologies {

inline constexpr double kUnlimitedBps = std::numeric_limits<double>::infinity();

enum class VertexKind { gpu, nvswitch, nic, switch_group };

struct FabricVertex {
  std::string name;
  VertexKind kind;
  double latency_s = 0;  // one traversal (switches only)
  int node = -1;         // node index for gpu / nvswitch / nic
  int tier = -1;         // switch groups: 0 leaves, 1 spine/agg, 2 core
  int switches = 0;      // physical switches this vertex stands for
};

struct FabricLink {
  std::string name;
  int a = -1, b = -1;          // vertex indices; a is the lower end (GPU side)
  double bandwidth_Bps = 0;    // each direction (links are full duplex)
  double latency_s = 0;
  int parallel = 1;            // physical links aggregated into this one
  bool failed = false;
};

// How the scale-out switches are arranged, from closed forms on the radix and oversubscription.
struct ScaleOutShape {
  int groups = 0;              // leaf switches (fat_tree), rail groups (rail_optimized), 1 (single_switch)
  int nodes_per_group = 0;
  int leaf_down_ports = 0, leaf_up_ports = 0;
  int pods = 0, leaves_per_pod = 0;       // 3-tier only; rail_optimized: groups per pod
  int agg_down_ports = 0, agg_up_ports = 0;
  int spines = 0;              // physical top-tier switches (2-tier spines, 3-tier cores)
  int aggs = 0;                // physical tier-1 switches (3-tier)
  int leaf_switches = 0;       // physical tier-0 switches
  int capacity_nic_ports = 0;  // the most NIC ports this radix and tier count can hold
};

// Empty string if the spec fits; otherwise why not ("k does not fit"), for the YAML loader to locate.
std::string scale_out_shape(const PlatformSpec& spec, ScaleOutShape& shape);

struct Fabric {
  std::vector<FabricVertex> vertices;
  std::vector<FabricLink> links;
  std::unordered_map<std::string, int> link_index;
  ScaleOutShape shape;
  int gpus = 0;  // vertices [0, gpus) are the GPUs, in GPU index order

  // Vertex indices by role, for builders.
  std::vector<int> nvswitch_of_node;           // -1 for mesh nodes
  std::vector<int> nic_vertex;                 // node * nics + k
  std::vector<int> group_vertex;               // leaf / rail group per group index
  std::vector<int> pod_vertex;                 // 3-tier aggregation per pod
  int top_vertex = -1;                         // spine / core / single switch

  const FabricLink& link(const std::string& name) const { return links.at(link_index.at(name)); }
  const FabricLink* find_link(const std::string& name) const {
    auto it = link_index.find(name);
    return it == link_index.end() ? nullptr : &links[it->second];
  }
  int group_of_node(int node) const { return shape.nodes_per_group > 0 ? node / shape.nodes_per_group : 0; }
};

// Names used for links (what link_overrides: refer to):
//   node{n}/gpu{i}/nvlink   GPU <-> NVSwitch, all NVLinks of the GPU aggregated
//   node{n}/gpu{i}-gpu{j}   mesh link between GPUs i < j
//   node{n}/gpu{i}/pcie     GPU <-> its NIC (only with pcie_bandwidth)
//   node{n}/nic{k}          NIC <-> leaf switch (includes NIC latency and the tier-0 cable)
//   leaf{l}/uplink, group{g}/uplink, pod{p}/uplink   aggregated uplinks
// Throws InputError at the override's line for an unknown link name (suggesting the closest).
Fabric build_fabric(const PlatformSpec& spec);

// One step of a route: a link crossed in a direction (up = from its a-end), or a switch crossed
// (its latency, as a FATPIPE link in SimGrid).
struct RouteHop {
  int link = -1;
  int switch_vertex = -1;
  bool up = true;
};

// Fewest-link paths inside one node, and out of it to its leaf (`leaf` = -1 on a single node),
// avoiding failed links: NVLink to a neighbour then its NIC, or out through the leaf and back.
class NodeRoutes {
 public:
  NodeRoutes(const Fabric& fabric, int node, int leaf);
  // False when dst cannot be reached; switches in between are included, the endpoints' are not.
  bool route(int src, int dst, std::vector<RouteHop>& out) const;

 private:
  const Fabric& f_;
  std::unordered_map<int, std::vector<std::pair<int, int>>> adjacency_;  // vertex -> (link, neighbour)
};

// The scale-out part of a route from node a to node b (a != b): from a's leaf up to the lowest
// common switch group and down to b's leaf, switches included, in the order a packet meets them.
std::vector<RouteHop> scale_out_route(const PlatformSpec& spec, const Fabric& fabric, int node_a, int node_b);

// Per vertex: the sum of its finite links' bandwidth (a switch's backplane when it is non-blocking).
std::vector<double> port_bandwidth_sums(const Fabric& fabric);

std::string closest_name(const std::string& typed, const std::vector<std::string>& known);

}  // namespace moesim::topologies
