// The fluid engine's solver and event loop (see fluid_maxmin.hpp for the model). The solve mirrors
// SimGrid 3.32's lmm::System::solve step by step -- same progressive filling, same saturation test
// (exact equality of remaining/usage), same precision thresholds -- so that rates agree with
// SimGrid's to rounding; the event loop mirrors CM02's full update (latency first, then bandwidth;
// time advances to the nearest completion or paid latency, every flow in flight moves by that step).
#include "moesim/sim/fluid_maxmin.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace moesim::sim {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();
// Completions closer than this fraction of the run's elapsed time are one event (see run()).
constexpr double kMergeRelative = 1e-12;

// SimGrid's double_update: subtract, and snap to zero what falls under the precision.
inline void subtract_snapping(double& value, double amount, double precision) {
  value -= amount;
  if (value < precision) value = 0.0;
}

enum FlowState : std::uint8_t { kPending = 0, kPayingLatency = 1, kActive = 2, kDone = 3 };

}  // namespace

std::uint32_t FluidMaxMin::add_link(double bandwidth_Bps, bool fatpipe) {
  if (!(bandwidth_Bps > 0)) throw std::invalid_argument("fluid engine: a link's bandwidth must be > 0");
  link_bound_.push_back(bandwidth_Bps);
  link_fatpipe_.push_back(fatpipe ? 1 : 0);
  remaining_.push_back(0);
  usage_.push_back(0);
  ratio_.push_back(0);
  light_index_.push_back(-1);
  fat_max_count_.push_back(0);
  fat_stale_.push_back(0);
  unfixed_.push_back(0);
  return static_cast<std::uint32_t>(link_bound_.size() - 1);
}

std::uint32_t FluidMaxMin::add_route(std::span<const std::uint32_t> links, double latency_s) {
  double bound = -1;
  for (std::uint32_t l : links) {
    if (l >= link_bound_.size()) throw std::invalid_argument("fluid engine: route names an unknown link");
    bound = bound < 0 ? link_bound_[l] : std::min(bound, link_bound_[l]);
  }
  if (links.empty() && !(latency_s > 0))
    throw std::invalid_argument("fluid engine: a route needs links or a latency");
  route_links_.insert(route_links_.end(), links.begin(), links.end());
  route_first_.push_back(static_cast<std::uint32_t>(route_links_.size()));
  route_latency_.push_back(latency_s);
  route_bound_.push_back(bound);
  return static_cast<std::uint32_t>(route_latency_.size() - 1);
}

// Progressive filling over the links of the active flows, as lmm::System::solve: find the links
// with the smallest remaining / usage, fix every unfixed flow crossing them at that level divided by
// its penalty, take the fixed rates off their links, repeat until no link is left.
void FluidMaxMin::solve(std::span<const std::uint32_t> active) {
  const auto epoch = static_cast<std::uint32_t>(++solves_);
  const double prec = precision_.maxmin;
  touched_.clear();
  for (std::uint32_t f : active) {
    double inv = flow_inv_penalty_[f];
    for (std::uint32_t k = route_first_[flow_route_[f]]; k < route_first_[flow_route_[f] + 1]; ++k) {
      std::uint32_t l = route_links_[k];
      if (light_index_[l] == -1) {  // first time this solve
        light_index_[l] = -2;
        touched_.push_back(l);
        remaining_[l] = link_bound_[l];
        usage_[l] = 0;
        unfixed_[l] = 0;
        fat_max_count_[l] = 0;
        fat_stale_[l] = 0;
      }
      if (!link_fatpipe_[l]) {
        usage_[l] += inv;
        ++unfixed_[l];
      } else if (inv > usage_[l]) {
        usage_[l] = inv;
        fat_max_count_[l] = 1;
      } else if (inv == usage_[l]) {
        ++fat_max_count_[l];
      }
    }
  }
  light_.clear();
  for (std::uint32_t l : touched_) {
    if (usage_[l] > 0) {
      ratio_[l] = remaining_[l] / usage_[l];
      light_index_[l] = static_cast<std::int32_t>(light_.size());
      light_.push_back(l);
    }
  }
  auto drop_light = [&](std::uint32_t l) {
    std::int32_t i = light_index_[l];
    if (i < 0) return;
    std::uint32_t last = light_.back();
    light_[i] = last;
    light_index_[last] = i;
    light_.pop_back();
    light_index_[l] = -2;
  };
  auto is_free = [&](std::uint32_t f) { return flow_active_[f] == kActive && flow_fixed_in_[f] != epoch; };
  // lmm's non-shared constraint update: usage = the largest 1/penalty among the unfixed flows.
  auto refresh_fat_pipe = [&](std::uint32_t l) {
    fat_stale_[l] = 0;
    usage_[l] = 0;
    fat_max_count_[l] = 0;
    for (std::uint64_t j = link_flows_first_[l]; j < link_flows_first_[l + 1]; ++j) {
      std::uint32_t g = link_flows_[j];
      if (!is_free(g)) continue;
      double gi = flow_inv_penalty_[g];
      if (gi > usage_[l]) {
        usage_[l] = gi;
        fat_max_count_[l] = 1;
      } else if (gi == usage_[l]) {
        ++fat_max_count_[l];
      }
    }
    if (!(usage_[l] > precision_.maxmin) || !(remaining_[l] > link_bound_[l] * precision_.maxmin))
      drop_light(l);
    else
      ratio_[l] = remaining_[l] / usage_[l];
  };

  std::vector<std::uint32_t> saturated, vars;
  while (!light_.empty()) {
    double min_usage = -1;
    while (true) {
      min_usage = -1;
      saturated.clear();
      for (std::uint32_t l : light_) {
        double r = ratio_[l];
        if (min_usage < 0 || r < min_usage) {
          min_usage = r;
          saturated.assign(1, l);
        } else if (r == min_usage) {
          saturated.push_back(l);
        }
      }
      // A stale fat pipe's ratio is a lower bound of its true one: refresh those that reach the
      // minimum and look again; the others cannot be saturated.
      bool refreshed = false;
      for (std::uint32_t l : saturated)
        if (fat_stale_[l]) {
          refresh_fat_pipe(l);
          refreshed = true;
        }
      if (!refreshed) break;
    }
    if (light_.empty()) break;
    // The unfixed flows on the saturated links (each once).
    vars.clear();
    for (std::uint32_t l : saturated)
      for (std::uint64_t k = link_flows_first_[l]; k < link_flows_first_[l + 1]; ++k) {
        std::uint32_t f = link_flows_[k];
        if (!is_free(f) || flow_fixed_in_[f] == epoch + 0x80000000u) continue;
        flow_fixed_in_[f] = epoch + 0x80000000u;  // collected this round
        vars.push_back(f);
      }
    // A flow whose bound (its route's narrowest link) is below the level is set to its bound first
    // (lmm's min_bound); by construction the bound never binds by more than rounding.
    double min_bound = -1;
    for (std::uint32_t f : vars) {
      double b = route_bound_[flow_route_[f]];
      double bp = b * flow_penalty_[f];
      if (b > 0 && bp < min_usage) min_bound = min_bound < 0 ? bp : std::min(min_bound, bp);
    }
    for (std::uint32_t f : vars) {
      double value;
      if (min_bound < 0) {
        value = min_usage / flow_penalty_[f];
      } else {
        double b = route_bound_[flow_route_[f]];
        if (std::fabs(min_bound - b * flow_penalty_[f]) < prec) {
          value = b;
        } else {
          flow_fixed_in_[f] = 0;  // not this round
          continue;
        }
      }
      flow_fixed_in_[f] = epoch;
      flow_rate_[f] = value;
      double inv = flow_inv_penalty_[f];
      for (std::uint32_t k = route_first_[flow_route_[f]]; k < route_first_[flow_route_[f] + 1]; ++k) {
        std::uint32_t l = route_links_[k];
        if (!link_fatpipe_[l]) {
          subtract_snapping(remaining_[l], value, link_bound_[l] * prec);
          subtract_snapping(usage_[l], inv, prec);
          // The last unfixed flow gone, what is left of the usage is rounding from summing many
          // 1/penalty (it can exceed maxmin/precision with 10^4 flows on a link, where lmm would
          // keep saturating an empty link): the usage is zero.
          if (--unfixed_[l] == 0) usage_[l] = 0;
        } else {
          // The largest 1/penalty left the fat pipe: its usage (the largest among its unfixed flows)
          // is refreshed only if it could become the bottleneck (lmm rescans at once: O(flows^2)).
          if (inv == usage_[l] && --fat_max_count_[l] == 0) fat_stale_[l] = 1;
          continue;
        }
        if (!(usage_[l] > prec) || !(remaining_[l] > link_bound_[l] * prec))
          drop_light(l);
        else if (light_index_[l] >= 0)
          ratio_[l] = remaining_[l] / usage_[l];
      }
    }
  }
  for (std::uint32_t f : active)
    if (flow_fixed_in_[f] != epoch) flow_rate_[f] = 0;  // every link of it saturated by rounding: lmm leaves 0
  for (std::uint32_t l : touched_) light_index_[l] = -1;
}

std::vector<double> FluidMaxMin::run(std::span<const Flow> flows, double issue_tolerance_s) {
  const std::size_t n = flows.size();
  if (n >= std::numeric_limits<std::uint32_t>::max() / 2) throw std::length_error("fluid engine: too many flows in one run");
  std::vector<double> finish(n, kNever);
  if (n == 0) return finish;
  flow_route_.resize(n);
  flow_penalty_.resize(n);
  flow_inv_penalty_.resize(n);
  flow_rate_.assign(n, 0);
  flow_remains_.resize(n);
  flow_latency_left_.resize(n);
  flow_fixed_in_.assign(n, 0);
  flow_active_.assign(n, kPending);
  for (std::size_t i = 0; i < n; ++i) {
    if (flows[i].route >= route_latency_.size()) throw std::invalid_argument("fluid engine: flow names an unknown route");
    flow_route_[i] = flows[i].route;
    if (!(flows[i].bandwidth_factor > 0)) throw std::invalid_argument("fluid engine: a bandwidth factor must be > 0");
    // CM02: a flow with latency is created with penalty 0 and given penalty = its latency once the
    // latency is paid; one without latency gets penalty 1 at once.
    double lat = route_latency_[flows[i].route];
    flow_penalty_[i] = lat > 0 ? lat : 1.0;
    flow_inv_penalty_[i] = 1.0 / flow_penalty_[i];
    flow_remains_[i] = flows[i].bytes / flows[i].bandwidth_factor;  // factor x share bytes per second
    flow_latency_left_[i] = lat;
  }
  // Links' flows (CSR), rebuilt without the finished flows when they are the majority.
  auto build_link_flows = [&]() {
    link_flows_first_.assign(link_bound_.size() + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
      if (flow_active_[i] == kDone) continue;
      std::uint32_t r = flow_route_[i];
      for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k) ++link_flows_first_[route_links_[k] + 1];
    }
    std::partial_sum(link_flows_first_.begin(), link_flows_first_.end(), link_flows_first_.begin());
    link_flows_.resize(link_flows_first_.back());
    std::vector<std::uint64_t> fill(link_flows_first_.begin(), link_flows_first_.end() - 1);
    for (std::size_t i = 0; i < n; ++i) {
      if (flow_active_[i] == kDone) continue;
      std::uint32_t r = flow_route_[i];
      for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k)
        link_flows_[fill[route_links_[k]]++] = static_cast<std::uint32_t>(i);
    }
    link_flows_.shrink_to_fit();
  };
  build_link_flows();
  std::size_t live = n, done_since_build = 0;

  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return flows[a].start_s < flows[b].start_s; });
  std::size_t next_start = 0;
  std::vector<std::uint32_t> in_flight, active;  // started and not done; of those, sharing bandwidth
  double t = clock_s_;
  const double run_start_s = t;
  bool dirty = false;
  const double remains_precision = precision_.maxmin * precision_.timing;

  // Flows whose start has come are issued at this clock; they pay their latency first.
  auto issue = [&]() {
    while (next_start < n && flows[order[next_start]].start_s - t <= issue_tolerance_s) {
      std::uint32_t f = order[next_start++];
      in_flight.push_back(f);
      if (flow_latency_left_[f] > 0) {
        flow_active_[f] = kPayingLatency;
      } else {
        flow_active_[f] = kActive;
        dirty = true;
      }
    }
  };
  issue();
  while (true) {
    if (dirty) {
      active.clear();
      for (std::uint32_t f : in_flight)
        if (flow_active_[f] == kActive) active.push_back(f);
      solve(active);
      dirty = false;
    }
    // Next event, as CM02's full update: the nearest completion at current rates, the nearest end of
    // a latency, or the next flow's start.
    double delta = -1;
    for (std::uint32_t f : in_flight) {
      double v;
      if (flow_active_[f] == kActive) {
        double r = flow_rate_[f];
        if (!(r > 0)) continue;
        v = flow_remains_[f] > 0 ? flow_remains_[f] / r : 0.0;
      } else {
        v = flow_latency_left_[f];
      }
      if (delta < 0 || v < delta) delta = v;
    }
    if (next_start < n) {
      double v = std::max(0.0, flows[order[next_start]].start_s - t);
      if (delta < 0 || v < delta) delta = v;
    }
    if (delta < 0) {
      if (!in_flight.empty()) throw std::runtime_error("fluid engine: flows left with no bandwidth (a zero-capacity path?)");
      break;
    }
    t = t + delta;
    // Flows that mathematically end together end a few ulps apart after different rounding
    // histories; SimGrid's full update would step through each (hundreds of re-solves of 10^6
    // flows). Those ending within 1e-12 of the run's elapsed time after this step end with it.
    const double merge_s = kMergeRelative * (t - run_start_s);
    // Every flow in flight moves by delta: latency paid down (snapped to 0 within the timing
    // precision), bytes sent at the current rate (snapped within maxmin x timing precision).
    std::size_t kept = 0;
    bool finished_any = false;
    for (std::uint32_t f : in_flight) {
      if (flow_active_[f] == kPayingLatency) {
        double& left = flow_latency_left_[f];
        if (left > delta)
          subtract_snapping(left, delta, precision_.timing);
        else
          left = 0.0;
        if (left <= 0) {
          if (route_first_[flow_route_[f]] == route_first_[flow_route_[f] + 1]) {  // no link: done
            flow_active_[f] = kDone;
            finish[f] = t;
            finished_any = true;
            continue;
          }
          flow_active_[f] = kActive;
          dirty = true;
        }
      } else {
        double r = flow_rate_[f];
        if (r > 0 && flow_remains_[f] / r - delta <= merge_s) flow_remains_[f] = 0;
        subtract_snapping(flow_remains_[f], r * delta, remains_precision);
        if (flow_remains_[f] <= 0) {
          flow_active_[f] = kDone;
          finish[f] = t;
          finished_any = true;
          continue;
        }
      }
      in_flight[kept++] = f;
    }
    if (finished_any) {
      std::size_t before = in_flight.size();
      in_flight.resize(kept);
      live -= before - kept;
      done_since_build += before - kept;
      dirty = true;
      if (done_since_build > live) {
        build_link_flows();
        done_since_build = 0;
      }
    }
    issue();
  }
  clock_s_ = t;
  return finish;
}

}  // namespace moesim::sim
