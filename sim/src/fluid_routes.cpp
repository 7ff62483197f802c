#include "fluid_routes.hpp"

#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/Link.hpp>

#include <algorithm>
#include <bit>

namespace moesim::sim {
namespace sg4 = simgrid::s4u;
namespace routing = simgrid::kernel::routing;

namespace {

// Pairs checked against Host::route_to before composing: every pair up to this many GPUs, else a
// grid of kSampleSide x kSampleSide GPUs spread over the platform plus kSampleRandomPairs others.
constexpr int kCheckAllPairsUpTo = 64;
constexpr int kSampleSide = 16;
constexpr int kSampleRandomPairs = 256;

}  // namespace

FluidRoutes::FluidRoutes(const std::vector<sg4::Host*>& gpus, LinkId link_id, std::mutex& simgrid_mutex)
    : gpus_(gpus), link_id_(std::move(link_id)), mutex_(simgrid_mutex), up_(gpus.size()), down_(gpus.size()) {
  const std::scoped_lock lock(mutex_);
  for (const sg4::Link* l : sg4::Engine::get_instance()->get_all_links()) iface_of_.emplace(l->get_impl(), l);
  composed_ = cut_pieces();
  if (composed_) {
    index_zones();
    composed_ = matches_simgrid_on_samples();
  }
}

// Zones numbered in GPU order; the middle cache is on where they hold two GPUs or more on average.
void FluidRoutes::index_zones() {
  std::unordered_map<const routing::NetZoneImpl*, std::uint32_t> index;
  zone_of_.resize(gpus_.size());
  for (std::size_t g = 0; g < gpus_.size(); ++g)
    zone_of_[g] = index.try_emplace(gpus_[g]->get_netpoint()->get_englobing_zone(), static_cast<std::uint32_t>(index.size()))
                      .first->second;
  zones_ = index.size();
  if (2 * zones_ <= gpus_.size()) {
    middle_of_zones_ = make_zeroed_array<Middle>(zones_ * zones_);
  } else {
    zone_of_.clear();
    zones_ = 0;
  }
}

double FluidRoutes::route(int src, int dst, std::vector<std::uint32_t>& ids) {
  const std::scoped_lock lock(mutex_);
  return composed_ ? route_composed(src, dst, ids) : route_simgrid(src, dst, ids);
}

double FluidRoutes::route_simgrid(int src, int dst, std::vector<std::uint32_t>& ids) {
  static thread_local std::vector<sg4::Link*> links;
  links.clear();
  ids.clear();
  double latency = 0;
  gpus_[src]->route_to(gpus_[dst], links, &latency);
  for (const sg4::Link* l : links) ids.push_back(link_id_(l));
  return latency;
}

// The middle piece, from the zone-pair cache where it is on.
double FluidRoutes::middle(int src, int dst, std::vector<std::uint32_t>& ids) {
  if (!middle_of_zones_) return middle_simgrid(src, dst, ids);
  Middle& m = middle_of_zones_[zone_of_[static_cast<std::size_t>(src)] * zones_ + zone_of_[static_cast<std::size_t>(dst)]];
  if (m.count_plus_one == 0) {
    const std::size_t before = ids.size();
    const double latency_s = middle_simgrid(src, dst, ids);  // may throw: then the pair stays unasked
    m.latency_s = latency_s;
    m.first = static_cast<std::uint32_t>(middle_ids_.size());
    m.count_plus_one = static_cast<std::uint32_t>(ids.size() - before) + 1;
    middle_ids_.insert(middle_ids_.end(), ids.begin() + static_cast<std::ptrdiff_t>(before), ids.end());
    ++zone_pairs_asked_;
    return latency_s;
  }
  ids.insert(ids.end(), middle_ids_.begin() + m.first, middle_ids_.begin() + m.first + (m.count_plus_one - 1));
  return m.latency_s;
}

// The common ancestor's route between the zones of src and dst (SimGrid's base case for two
// netpoints of one zone), as fluid ids; returns its latency, summed from 0 in SimGrid's order.
double FluidRoutes::middle_simgrid(int src, int dst, std::vector<std::uint32_t>& ids) {
  static thread_local std::vector<simgrid::kernel::resource::StandardLinkImpl*> links;
  links.clear();
  double latency = 0;
  routing::NetZoneImpl::get_global_route(gpus_[src]->get_netpoint()->get_englobing_zone()->get_netpoint(),
                                         gpus_[dst]->get_netpoint()->get_englobing_zone()->get_netpoint(), links,
                                         &latency);
  for (const auto* link : links) {
    auto it = id_of_.find(link);
    if (it == id_of_.end()) it = id_of_.emplace(link, link_id_(iface_of_.at(link))).first;  // no entry if it throws
    ids.push_back(it->second);
  }
  return latency;
}

double FluidRoutes::route_composed(int src, int dst, std::vector<std::uint32_t>& ids) {
  const auto* zs = gpus_[src]->get_netpoint()->get_englobing_zone();
  const auto* zd = gpus_[dst]->get_netpoint()->get_englobing_zone();
  if (zs == zd) return route_simgrid(src, dst, ids);  // inside one zone: its local route
  const Piece& up = up_[static_cast<std::size_t>(src)];
  const Piece& down = down_[static_cast<std::size_t>(dst)];
  ids.assign(up.ids.begin(), up.ids.end());
  double latency = middle(src, dst, ids);
  for (double l : up.latencies_s) latency += l;
  for (double l : down.latencies_s) latency += l;
  ids.insert(ids.end(), down.ids.begin(), down.ids.end());
  return latency;
}

// Every GPU's zone is a child of one zone and holds one router, its gateway; a GPU's up piece is
// SimGrid's route from the GPU to it, its down piece the route back. False for any other shape.
bool FluidRoutes::cut_pieces() {
  if (gpus_.size() < 2) return false;
  const routing::NetZoneImpl* parent = gpus_[0]->get_netpoint()->get_englobing_zone()->get_parent();
  if (parent == nullptr) return false;  // every GPU in the root zone: nothing to compose
  std::vector<simgrid::kernel::resource::StandardLinkImpl*> links;
  auto keep = [&](Piece& p) {
    for (const auto* link : links) {
      const sg4::Link* l = iface_of_.at(link);
      p.ids.push_back(link_id_(l));
      p.latencies_s.push_back(l->get_latency());
    }
  };
  for (std::size_t g = 0; g < gpus_.size(); ++g) {
    const routing::NetPoint* host = gpus_[g]->get_netpoint();
    const routing::NetZoneImpl* zone = host->get_englobing_zone();
    if (zone->get_parent() != parent) return false;
    const routing::NetPoint* gateway = nullptr;
    for (const routing::NetPoint* v : zone->get_vertices()) {
      if (!v->is_router()) continue;
      if (gateway != nullptr) return false;  // several routers: which one is the gateway?
      gateway = v;
    }
    if (gateway == nullptr) return false;
    double latency = 0;
    links.clear();
    routing::NetZoneImpl::get_global_route(host, gateway, links, &latency);
    keep(up_[g]);
    links.clear();
    routing::NetZoneImpl::get_global_route(gateway, host, links, &latency);
    keep(down_[g]);
  }
  return true;
}

// Composed routes equal route_to's (same links in the same order, same latency to the bit) on the
// sample; otherwise composing is off for this platform.
bool FluidRoutes::matches_simgrid_on_samples() {
  const int n = static_cast<int>(gpus_.size());
  std::vector<std::pair<int, int>> pairs;
  if (n <= kCheckAllPairsUpTo) {
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b) pairs.emplace_back(a, b);
  } else {
    for (int i = 0; i < kSampleSide; ++i)
      for (int j = 0; j < kSampleSide; ++j)
        pairs.emplace_back(i * (n - 1) / (kSampleSide - 1), j * (n - 1) / (kSampleSide - 1));
    std::uint64_t x = 0x9e3779b97f4a7c15ull;  // fixed: the same pairs every run
    for (int k = 0; k < kSampleRandomPairs; ++k) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      pairs.emplace_back(static_cast<int>((x >> 33) % static_cast<std::uint64_t>(n)),
                         static_cast<int>((x >> 13) % static_cast<std::uint64_t>(n)));
    }
  }
  std::vector<std::uint32_t> composed, reference;
  for (auto [a, b] : pairs) {
    if (a == b) continue;
    const double lc = route_composed(a, b, composed);
    const double lr = route_simgrid(a, b, reference);
    if (composed != reference || std::bit_cast<std::uint64_t>(lc) != std::bit_cast<std::uint64_t>(lr)) return false;
  }
  return true;
}

}  // namespace moesim::sim
