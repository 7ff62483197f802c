#pragma once
// GPUs grouped into nodes of consecutive indices, g = node × gpus_per_node + local (as topologies/
// builds every platform, platforms/README.md "GPU index"). A GPU's rail is its local index: in a
// rail-optimized fabric its NIC plugs into rail leaf `local`, and same-rail traffic crosses one switch.
namespace moesim::sim {

struct NodeLayout {
  int gpus_per_node = 1;

  int node_of(int g) const { return g / gpus_per_node; }
  int local_of(int g) const { return g % gpus_per_node; }
  // The GPU of `node` on g's rail (DeepEP's RDMA peer of g in that node).
  int rail_peer(int g, int node) const { return node * gpus_per_node + local_of(g); }
};

}  // namespace moesim::sim
