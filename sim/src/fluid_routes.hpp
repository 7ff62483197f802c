#pragma once
// SimGrid's route between two GPUs, for the fluid engine, without asking SimGrid once per GPU pair.
//
// SimGrid resolves a route between hosts of different zones recursively
// (NetZoneImpl::get_global_route_with_netzones, SimGrid 3.32): the common ancestor zone's local
// route between the two child zones that hold them, then the route from the source host up to the
// source zone's gateway, then from the destination zone's gateway down to the host; links in the
// order up, middle, down, latency summed in the order middle, up, down. On a platform whose GPUs'
// zones share one parent and each hold one router, their gateway (every platform our builder
// makes), the up and down pieces depend on the GPU only: SimGrid's routes GPU -> gateway and back,
// asked once per GPU. Per pair only the middle piece is asked of SimGrid (get_global_route between
// the two zones: one table look-up in a Full or Star zone). Host::route_to per pair (the path
// before) resolves both pieces again and converts every link to its s4u interface.
//
// Bypass routes, deeper hierarchies or a gateway other than the zone's router would make a composed
// route differ from SimGrid's: the composer checks itself against Host::route_to on a sample of
// pairs (links and latency bit for bit) and, on any difference, asks route_to for every pair.
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <simgrid/forward.h>

#include "moesim/sim/zeroed_array.hpp"

namespace moesim::sim {

class FluidRoutes {
 public:
  // link_id: the fluid engine's id of a SimGrid link (may register it; throws for a link the
  // fluid engine cannot model).
  using LinkId = std::function<std::uint32_t(const simgrid::s4u::Link*)>;
  FluidRoutes(const std::vector<simgrid::s4u::Host*>& gpus, LinkId link_id, std::mutex& simgrid_mutex);

  // The route src -> dst as fluid link ids (into `ids`, cleared first); returns its latency,
  // summed in SimGrid's order. Thread-safe for distinct `ids` (SimGrid calls under the mutex).
  double route(int src, int dst, std::vector<std::uint32_t>& ids);

  bool composed() const { return composed_; }  // false: every pair is asked of SimGrid
  std::size_t zone_pairs_asked() const { return zone_pairs_asked_; }  // middle pieces asked of SimGrid and cached

 private:
  struct Piece {  // a GPU <-> its zone's gateway
    std::vector<std::uint32_t> ids;
    std::vector<double> latencies_s;  // per link, in route order (SimGrid adds them in this order)
  };
  double route_simgrid(int src, int dst, std::vector<std::uint32_t>& ids);
  double route_composed(int src, int dst, std::vector<std::uint32_t>& ids);
  double middle(int src, int dst, std::vector<std::uint32_t>& ids);
  double middle_simgrid(int src, int dst, std::vector<std::uint32_t>& ids);
  bool cut_pieces();
  bool matches_simgrid_on_samples();
  void index_zones();

  const std::vector<simgrid::s4u::Host*>& gpus_;
  LinkId link_id_;
  std::mutex& mutex_;
  bool composed_ = false;
  std::unordered_map<const simgrid::kernel::resource::StandardLinkImpl*, const simgrid::s4u::Link*> iface_of_;
  std::unordered_map<const simgrid::kernel::resource::StandardLinkImpl*, std::uint32_t> id_of_;
  std::vector<Piece> up_, down_;  // per GPU
  // The middle piece depends on the two zones only: where zones hold several GPUs (nodes of a
  // cluster or fat-tree) it is asked of SimGrid once per zone pair (fat-tree-4096-3tier: 512 zones,
  // 262,144 pairs instead of 16.8 M GPU pairs). Filled as pairs are asked.
  struct Middle {  // all zero: not asked yet
    double latency_s;
    std::uint32_t first;           // ids middle_ids_[first, first + count_plus_one - 1)
    std::uint32_t count_plus_one;  // 0 until asked
  };
  std::vector<std::uint32_t> zone_of_;  // per GPU, when the cache is on
  std::size_t zones_ = 0;
  // zones_ x zones_, null when off; zone pairs never asked cost no memory (16384 GPUs in EP
  // groups: 2,048 zones, 4.2 M pairs, of which a packed group asks a few hundred).
  ZeroedArray<Middle> middle_of_zones_;
  std::vector<std::uint32_t> middle_ids_;
  std::size_t zone_pairs_asked_ = 0;
};

}  // namespace moesim::sim
