// The fluid engine's solver and event loop (see fluid_maxmin.hpp for the model). The solve mirrors
// SimGrid 3.32's lmm::System::solve step by step -- same progressive filling, same saturation test
// (exact equality of remaining/usage), same precision thresholds -- so that rates agree with
// SimGrid's to rounding; the event loop mirrors CM02's full update (latency first, then bandwidth;
// time advances to the nearest completion or paid latency, every flow in flight moves by that step).
// What is ours: the filling is kept between events and rolled back only as far as the event
// changes it (an undo log per round), and completions sit in a heap instead of a scan of all flows.
#include "moesim/sim/fluid_maxmin.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <cstdio>
#include <cstdlib>

namespace moesim::sim {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();
// Arriving flows keep a round only if their links' ratios clear its level by this relative margin:
// the proof that the round is unchanged needs a strict inequality, rounding gets the margin.
constexpr double kRatioMargin = 1e-9;
// A full solve (from scratch, no rounding carried over from undone usage sums) runs when the
// incremental solves since the last one have done this many times its work.
constexpr std::uint64_t kFullSolveEvery = 4;
// A re-run round recomputes its level from usage sums patched by undo, so a rate it sets again
// differs from the old one by rounding: on the issue-21 256-GPU layer 60.0 M of the 83.8 M rates that
// moved (72 %) moved by <= 1e-13 relative (MOESIM_FLUID_STATS=1, sim/README.md). Such a
// rate is kept: the flow's bytes and completion stay as they were (no event pushed), the rate in
// force stays within this bound of the solve's (finish times within it too, far inside the 1e-9
// the engine is tested to).
constexpr double kRateRoundingRelative = 1e-13;
// A window of events is split off the heap in one pass once it holds more than this many events and
// this share (1 / kBulkWindowShare) of the heap: below, popping one by one costs less. The pass
// hands the window's events to the solver in another order than the heap would (same times, other
// rounding of the usage sums: results within ~1e-14 relative, and on the 256-GPU Zipf layer 7 % more
// rates set), so it is kept for the windows where it pays: a 1024-GPU uniform all-to-all's (10^6
// events at once: -14 % instructions), not a Zipf layer's (65,280 flows in all).
constexpr std::size_t kBulkWindowEvents = std::size_t{1} << 17;
constexpr std::size_t kBulkWindowShare = 16;

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
  min_link_bound_ = std::min(min_link_bound_, bandwidth_Bps);
  link_fatpipe_.push_back(fatpipe ? 1 : 0);
  for (auto* v : {&remaining_, &usage_, &ratio_, &arrival_usage_, &link_max_inv_}) v->push_back(0);
  for (auto* v : {&unfixed_, &fat_max_count_, &log_stamp_, &log_index_, &changed_stamp_}) v->push_back(0);
  fat_stale_.push_back(0);
  link_live_.push_back(0);
  heap_pos_.push_back(-1);
  return static_cast<std::uint32_t>(link_bound_.size() - 1);
}

std::uint32_t FluidMaxMin::add_route(std::span<const std::uint32_t> links, double latency_s) {
  for (std::uint32_t l : links)
    if (l >= link_bound_.size()) throw std::invalid_argument("fluid engine: route names an unknown link");
  if (links.empty() && !(latency_s > 0))
    throw std::invalid_argument("fluid engine: a route needs links or a latency");
  route_links_.insert(route_links_.end(), links.begin(), links.end());
  route_first_.push_back(static_cast<std::uint32_t>(route_links_.size()));
  route_latency_.push_back(latency_s);
  return static_cast<std::uint32_t>(route_latency_.size() - 1);
}

void FluidMaxMin::reserve_routes(std::size_t routes, std::size_t links) {
  route_first_.reserve(routes + 1);
  route_latency_.reserve(routes);
  route_links_.reserve(links);
}

double FluidMaxMin::route_bound(std::uint32_t r) const {
  double bound = -1;
  for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k)
    bound = bound < 0 ? link_bound_[route_links_[k]] : std::min(bound, link_bound_[route_links_[k]]);
  return bound;
}

std::uint32_t FluidMaxMin::next_stamp() {
  if (++stamp_ == 0) {  // wrapped: no array may hold a stamp equal to a future one
    std::fill(log_stamp_.begin(), log_stamp_.end(), 0);
    std::fill(changed_stamp_.begin(), changed_stamp_.end(), 0);
    std::fill(flow_collected_.begin(), flow_collected_.end(), 0);
    stamp_ = 1;
  }
  return stamp_;
}

// ---- the light links' heap (lmm's "light" constraint list, ordered by remaining / usage) ----

void FluidMaxMin::heap_place(std::size_t i, std::uint32_t l) {
  heap_[i] = l;
  heap_pos_[l] = static_cast<std::int32_t>(i);
}

void FluidMaxMin::heap_sift_up(std::size_t i) {
  const std::uint32_t l = heap_[i];
  const double key = ratio_[l];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!(key < ratio_[heap_[parent]])) break;
    heap_place(i, heap_[parent]);
    i = parent;
  }
  heap_place(i, l);
}

void FluidMaxMin::heap_sift_down(std::size_t i) {
  const std::uint32_t l = heap_[i];
  const double key = ratio_[l];
  const std::size_t n = heap_.size();
  while (true) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && ratio_[heap_[child + 1]] < ratio_[heap_[child]]) ++child;
    if (!(ratio_[heap_[child]] < key)) break;
    heap_place(i, heap_[child]);
    i = child;
  }
  heap_place(i, l);
}

// In the heap (at its current ratio) or out of it.
void FluidMaxMin::heap_set(std::uint32_t l, bool in) {
  const std::int32_t pos = heap_pos_[l];
  if (!in) {
    if (pos < 0) return;
    const std::uint32_t last = heap_.back();
    heap_.pop_back();
    heap_pos_[l] = -1;
    if (last == l) return;
    heap_place(static_cast<std::size_t>(pos), last);
    heap_sift_up(static_cast<std::size_t>(pos));
    heap_sift_down(static_cast<std::size_t>(heap_pos_[last]));
    return;
  }
  if (pos < 0) {
    heap_.push_back(l);
    heap_sift_up(heap_.size() - 1);
  } else {
    heap_sift_up(static_cast<std::size_t>(pos));
    heap_sift_down(static_cast<std::size_t>(heap_pos_[l]));
  }
}

// Every link whose ratio equals the smallest exactly (lmm saturates them in one round): the heap's
// nodes with the root's key form a subtree at the root.
void FluidMaxMin::collect_min_ties(std::vector<std::uint32_t>& out) {
  out.clear();
  if (heap_.empty()) return;
  const double least = ratio_[heap_[0]];
  tie_stack_.assign(1, 0);
  while (!tie_stack_.empty()) {
    std::size_t i = tie_stack_.back();
    tie_stack_.pop_back();
    if (ratio_[heap_[i]] != least) continue;
    out.push_back(heap_[i]);
    for (std::size_t c = 2 * i + 1; c <= 2 * i + 2 && c < heap_.size(); ++c) tie_stack_.push_back(static_cast<std::uint32_t>(c));
  }
}

// ---- link state ----

// lmm keeps a constraint in its light list while it has usage and capacity left: once dropped
// (usage or remaining under the precision) it never returns within a solve, and both only shrink.
bool FluidMaxMin::light_condition(std::uint32_t l) const {
  const double prec = precision_.maxmin;
  return unfixed_[l] > 0 && usage_[l] > prec && remaining_[l] > link_bound_[l] * prec;
}

void FluidMaxMin::mark_changed(std::uint32_t l) {
  if (changed_stamp_[l] == stamp_) return;
  changed_stamp_[l] = stamp_;
  changed_.push_back(l);
}

void FluidMaxMin::refresh_changed() {
  for (std::uint32_t l : changed_) {
    bool light = light_condition(l);
    if (light) ratio_[l] = remaining_[l] / usage_[l];
    heap_set(l, light);
  }
  changed_.clear();
}

void FluidMaxMin::init_link(std::uint32_t l) {
  if (link_live_[l]) return;
  link_live_[l] = 1;
  live_links_.push_back(l);
  if (link_fatpipe_[l]) fat_live_.push_back(l);
  remaining_[l] = link_bound_[l];
  usage_[l] = 0;
  unfixed_[l] = 0;
  fat_max_count_[l] = 0;
  fat_stale_[l] = 0;
}

void FluidMaxMin::reset_links() {
  for (std::uint32_t l : live_links_) {
    link_live_[l] = 0;
    heap_pos_[l] = -1;
  }
  live_links_.clear();
  fat_live_.clear();
  heap_.clear();
  changed_.clear();
  round_level_.clear();
  round_ties_begin_.clear();
  ties_log_.clear();
  round_flow_begin_.clear();
  round_log_begin_.clear();
  fixed_order_.clear();
  log_.clear();
}

// An unfixed flow's 1/penalty joins its links' usage (a fat pipe's usage is the largest one).
void FluidMaxMin::add_usage(std::uint32_t f) {
  const std::uint32_t r = flow_route_[f];
  const double inv = inv_penalty(r);
  for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k) {
    const std::uint32_t l = route_links_[k];
    init_link(l);
    ++unfixed_[l];
    if (!link_fatpipe_[l]) {
      usage_[l] += inv;
    } else if (fat_stale_[l]) {
      usage_[l] = std::max(usage_[l], inv);  // stays an upper bound
    } else if (inv > usage_[l]) {
      usage_[l] = inv;
      fat_max_count_[l] = 1;
    } else if (inv == usage_[l]) {
      ++fat_max_count_[l];
    }
    mark_changed(l);
  }
}

// An unfixed flow leaves. A fat pipe keeps its usage as an upper bound, recomputed if it matters.
void FluidMaxMin::remove_usage(std::uint32_t f) {
  const std::uint32_t r = flow_route_[f];
  const double inv = inv_penalty(r);
  for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k) {
    const std::uint32_t l = route_links_[k];
    --unfixed_[l];
    if (link_fatpipe_[l]) {
      fat_stale_[l] = 1;
    } else {
      subtract_snapping(usage_[l], inv, precision_.maxmin);
      if (unfixed_[l] == 0) usage_[l] = 0;
    }
    mark_changed(l);
  }
}

// lmm's non-shared constraint update: usage = the largest 1/penalty among the unfixed flows.
void FluidMaxMin::refresh_fat_pipe(std::uint32_t l) {
  fat_stale_[l] = 0;
  usage_[l] = 0;
  fat_max_count_[l] = 0;
  for (std::uint64_t j = link_flows_first_[l]; j < link_flows_first_[l + 1]; ++j) {
    const std::uint32_t g = link_flows_[j];
    if (flow_state_[g] != kActive || flow_round_[g] != kUnfixed) continue;
    const double gi = inv_penalty(flow_route_[g]);
    if (gi > usage_[l]) {
      usage_[l] = gi;
      fat_max_count_[l] = 1;
    } else if (gi == usage_[l]) {
      ++fat_max_count_[l];
    }
  }
  const bool light = light_condition(l);
  if (light) ratio_[l] = remaining_[l] / usage_[l];
  heap_set(l, light);
}

void FluidMaxMin::log_link(std::uint32_t l) {
  if (log_stamp_[l] == stamp_) return;
  log_stamp_[l] = stamp_;
  log_index_[l] = static_cast<std::uint32_t>(log_.size());
  log_.push_back({l, 0, remaining_[l], 0.0, 0.0});
}

// Back to the state before the last round: its links as logged, its flows unfixed. Usage moves by
// the logged change (not to a logged value) so that flows patched in or out since stay so.
void FluidMaxMin::undo_last_round() {
  next_stamp();
  const std::size_t log_begin = round_log_begin_.back();
  for (std::size_t i = log_.size(); i-- > log_begin;) {
    const LogEntry& e = log_[i];
    const std::uint32_t l = e.link;
    remaining_[l] = e.remaining_before;
    unfixed_[l] += e.unfixed_removed;
    if (!link_fatpipe_[l]) usage_[l] -= e.usage_change;
    log_stamp_[l] = 0;
    mark_changed(l);
  }
  work_since_full_ += log_.size() - log_begin;
  log_.resize(log_begin);
  for (std::size_t i = round_flow_begin_.back(); i < fixed_order_.size(); ++i) {
    flow_round_[fixed_order_[i]] = kUnfixed;
    reopened_.push_back(fixed_order_[i]);
  }
  fixed_order_.resize(round_flow_begin_.back());
  round_level_.pop_back();
  if (diag_) { ties_log_.resize(round_ties_begin_.back()); round_ties_begin_.pop_back(); }
  round_flow_begin_.pop_back();
  round_log_begin_.pop_back();
}

void FluidMaxMin::event_sift_up(std::size_t i) {
  const Event e = events_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!e.before(events_[parent])) break;
    event_place(i, events_[parent]);
    i = parent;
  }
  event_place(i, e);
}

void FluidMaxMin::event_sift_down(std::size_t i) {
  const Event e = events_[i];
  const std::size_t n = events_.size();
  while (true) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && events_[child + 1].before(events_[child])) ++child;
    if (!events_[child].before(e)) break;
    event_place(i, events_[child]);
    i = child;
  }
  event_place(i, e);
}

void FluidMaxMin::set_event(std::uint32_t f, double time_s) {
  const std::uint32_t i = event_pos_[f];
  if (i == kNoEvent) {
    events_.push_back({time_s, f});
    if (defer_events_) {
      event_pos_[f] = static_cast<std::uint32_t>(events_.size() - 1);
      events_dirty_ = true;
    } else {
      event_sift_up(events_.size() - 1);
    }
    return;
  }
  const bool earlier = time_s < events_[i].time_s;
  events_[i].time_s = time_s;
  if (defer_events_) events_dirty_ = true;
  else if (earlier) event_sift_up(i);
  else event_sift_down(i);
}

void FluidMaxMin::remove_event(std::uint32_t f) {
  const std::uint32_t i = event_pos_[f];
  if (i == kNoEvent) return;
  event_pos_[f] = kNoEvent;
  const Event last = events_.back();
  events_.pop_back();
  if (i == events_.size()) return;  // it was the last
  event_place(i, last);
  if (defer_events_) {
    events_dirty_ = true;
    return;
  }
  event_sift_up(i);
  event_sift_down(event_pos_[last.flow]);
}

void FluidMaxMin::rebuild_event_heap() {
  std::make_heap(events_.begin(), events_.end(), [](const Event& a, const Event& b) { return b.before(a); });
  for (std::size_t i = 0; i < events_.size(); ++i) event_pos_[events_[i].flow] = static_cast<std::uint32_t>(i);
  events_dirty_ = false;
}

FluidMaxMin::Event FluidMaxMin::pop_event() {
  const Event e = events_.front();
  remove_event(e.flow);
  return e;
}

// A new rate from now on: the bytes sent at the old one are accounted first. A rate equal to the
// old one up to rounding (kRateRoundingRelative) is no change in the incremental solve.
void FluidMaxMin::set_rate(std::uint32_t f, double rate, double now_s) {
  const double kept_relative = incremental_ ? kRateRoundingRelative : 0.0;  // the full re-solve stays the reference
  if (std::fabs(rate - flow_rate_[f]) <= kept_relative * flow_rate_[f]) return;
  ++rates_changed_;
  if (flow_rate_[f] > 0)
    subtract_snapping(flow_remains_[f], flow_rate_[f] * (now_s - flow_updated_s_[f]),
                      precision_.maxmin * precision_.timing);
  flow_updated_s_[f] = now_s;
  flow_rate_[f] = rate;
  if (rate > 0) set_event(f, now_s + flow_remains_[f] / rate);
  else remove_event(f);
}

// Progressive filling from the current state, as lmm::System::solve: find the links with the
// smallest remaining / usage, fix every unfixed flow crossing them at that level divided by its
// penalty, take the fixed rates off their links, repeat until no link is left. Each round is logged.
void FluidMaxMin::fill(double now_s) {
  const double prec = precision_.maxmin;
  while (!heap_.empty()) {
    // A stale fat pipe's ratio is a lower bound of its true one: refresh those that reach the
    // minimum and look again; the others cannot be saturated.
    while (true) {
      collect_min_ties(ties_);
      bool refreshed = false;
      for (std::uint32_t l : ties_)
        if (link_fatpipe_[l] && fat_stale_[l]) {
          refresh_fat_pipe(l);
          refreshed = true;
        }
      if (!refreshed || heap_.empty()) break;
    }
    if (heap_.empty()) break;
    const double min_usage = ratio_[ties_.front()];
    const auto round = static_cast<std::uint32_t>(round_level_.size());
    round_level_.push_back(min_usage);
    round_flow_begin_.push_back(static_cast<std::uint32_t>(fixed_order_.size()));
    round_log_begin_.push_back(static_cast<std::uint32_t>(log_.size()));
    const std::uint32_t stamp = next_stamp();
    if (diag_) {
      round_ties_begin_.push_back(static_cast<std::uint32_t>(ties_log_.size()));
      for (std::uint32_t l : ties_) { ties_log_.push_back(l); link_saturated_round_[l] = round; link_level_[l] = min_usage; }
    }
    // The unfixed flows on the saturated links (each once).
    vars_.clear();
    for (std::uint32_t l : ties_)
      for (std::uint64_t k = link_flows_first_[l]; k < link_flows_first_[l + 1]; ++k) {
        const std::uint32_t f = link_flows_[k];
        if (flow_state_[f] != kActive || flow_round_[f] != kUnfixed || flow_collected_[f] == stamp) continue;
        flow_collected_[f] = stamp;
        if (diag_) flow_bottleneck_[f] = l;
        vars_.push_back(f);
      }
    // A flow whose bound (its route's narrowest link) is below the level is set to its bound first
    // (lmm's min_bound); by construction the bound never binds by more than rounding.
    // A route's bound is at least the narrowest link of all (min_link_bound_): below that level x
    // penalty no bound can bind, and the route's own (a walk over its links) is not needed.
    double min_bound = -1;
    for (std::uint32_t f : vars_) {
      const std::uint32_t r = flow_route_[f];
      if (!(min_link_bound_ * penalty(r) < min_usage)) continue;
      const double bound = route_bound(r);
      const double bp = bound * penalty(r);
      if (bound > 0 && bp < min_usage) min_bound = min_bound < 0 ? bp : std::min(min_bound, bp);
    }
    std::size_t fixed = 0;
    for (std::uint32_t f : vars_) {
      const std::uint32_t r = flow_route_[f];
      double value;
      if (min_bound < 0) {
        value = min_usage / penalty(r);
      } else if (const double bound = route_bound(r); std::fabs(min_bound - bound * penalty(r)) < prec) {
        value = bound;
        if (diag_) flow_bottleneck_[f] = 0xfffffffeu;
      } else {
        continue;  // not this round
      }
      ++fixed;
      flow_round_[f] = round;
      fixed_order_.push_back(f);
      set_rate(f, value, now_s);
      // The round's flows are summed per link first and each link updated once below: a link
      // crossed by many of the round's flows (a hot destination's port: all of its senders) is
      // updated once, not once per flow. lmm subtracts flow by flow; the sums differ by rounding.
      const double inv = inv_penalty(r);
      for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k) {
        const std::uint32_t l = route_links_[k];
        log_link(l);
        LogEntry& entry = log_[log_index_[l]];
        ++entry.unfixed_removed;
        if (link_fatpipe_[l]) {
          // The largest 1/penalty left the fat pipe: its usage (the largest among its unfixed flows)
          // is refreshed only if it could become the bottleneck (lmm rescans at once: O(flows^2)).
          if (!fat_stale_[l] && inv == usage_[l] && --fat_max_count_[l] == 0) fat_stale_[l] = 1;
          continue;
        }
        entry.value_sum += value;
        entry.usage_change += inv;  // the round's 1/penalty sum until the link is updated below
      }
    }
    flows_fixed_ += fixed;
    if (fixed == 0) throw std::logic_error("fluid engine: a max-min round fixed no flow");
    for (std::size_t i = round_log_begin_.back(); i < log_.size(); ++i) {
      LogEntry& entry = log_[i];
      const std::uint32_t l = entry.link;
      unfixed_[l] -= entry.unfixed_removed;
      if (link_fatpipe_[l]) {
        if (unfixed_[l] == 0) mark_changed(l);
        continue;
      }
      subtract_snapping(remaining_[l], entry.value_sum, link_bound_[l] * prec);
      const double usage_before = usage_[l];
      subtract_snapping(usage_[l], entry.usage_change, prec);
      // The last unfixed flow gone, what is left of the usage is rounding from summing many
      // 1/penalty (it can exceed maxmin/precision with 10^4 flows on a link, where lmm would
      // keep saturating an empty link): the usage is zero.
      if (unfixed_[l] == 0) usage_[l] = 0;
      entry.usage_change = usage_[l] - usage_before;
      mark_changed(l);
    }
    refresh_changed();
    work_since_full_ += log_.size() - round_log_begin_.back() + fixed;
  }
}

// Rates after the event that finished `finished_` and activated `arrived_`.
void FluidMaxMin::solve(double now_s) {
  ++solves_;
  std::size_t rounds_kept = 0;
  reopened_.clear();
  const bool full = !incremental_ || force_full_ || work_since_full_ > kFullSolveEvery * active_elements_;
  defer_events_ = full;  // a full solve may move every event: one rebuild at the end
  if (full) {
    ++full_solves_;
    work_since_full_ = 0;
    force_full_ = false;
    reset_links();
    next_stamp();
    for (std::uint32_t f : in_flight_) {  // every active flow is reopened (not listed: in_flight_ is the list)
      if (flow_state_[f] != kActive) continue;
      flow_round_[f] = kUnfixed;
      add_usage(f);
    }
  } else {
    // Rounds from the first that fixed a finished flow on may change; the earlier ones cannot.
    std::size_t keep = round_level_.size();
    for (std::uint32_t f : finished_)
      if (flow_round_[f] != kUnfixed) keep = std::min<std::size_t>(keep, flow_round_[f]);
    while (round_level_.size() > keep) undo_last_round();
    rounds_kept = keep;
    if (!arrived_.empty()) {
      // Arriving flows leave round k-1 alone if, in the state before round k, their links' ratios
      // (their usage added) exceed round k-1's level: a link's ratio only grows as rounds fix flows,
      // so it exceeded every earlier round's level too. Walk back until that holds.
      for (std::uint32_t f : arrived_) {
        const std::uint32_t r = flow_route_[f];
        for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k) {
          const std::uint32_t l = route_links_[k];
          init_link(l);
          if (arrival_usage_[l] == 0) arrival_links_.push_back(l);
          const double inv = inv_penalty(r);
          arrival_usage_[l] = link_fatpipe_[l] ? std::max(arrival_usage_[l], inv) : arrival_usage_[l] + inv;
        }
      }
      auto ratio_with_arrivals = [&](std::uint32_t l) {
        // A fat pipe's usage may be stale here: its largest possible one keeps the test conservative.
        if (link_fatpipe_[l]) return remaining_[l] / link_max_inv_[l];
        return remaining_[l] / ((unfixed_[l] > 0 ? usage_[l] : 0.0) + arrival_usage_[l]);
      };
      double least = kNever;
      for (std::uint32_t l : arrival_links_) least = std::min(least, ratio_with_arrivals(l));
      while (!round_level_.empty() && !(least > round_level_.back() * (1 + kRatioMargin))) {
        const std::size_t seen = changed_.size();
        undo_last_round();
        for (std::size_t i = seen; i < changed_.size(); ++i)
          if (arrival_usage_[changed_[i]] > 0) least = std::min(least, ratio_with_arrivals(changed_[i]));
      }
      rounds_kept = round_level_.size();
      for (std::uint32_t l : arrival_links_) arrival_usage_[l] = 0;
      arrival_links_.clear();
    }
    // After an undo a fat pipe's usage may miss flows patched in since: an upper bound instead.
    if (!reopened_.empty())
      for (std::uint32_t l : fat_live_) {
        usage_[l] = std::max(usage_[l], link_max_inv_[l]);
        fat_stale_[l] = 1;
        mark_changed(l);
      }
    next_stamp();
    for (std::uint32_t f : finished_) remove_usage(f);
    for (std::uint32_t f : arrived_) {
      flow_round_[f] = kUnfixed;
      add_usage(f);
      reopened_.push_back(f);
    }
  }
  refresh_changed();
  fill(now_s);
  // Flows no round fixed (every link of theirs saturated by rounding): lmm leaves them at 0.
  for (std::uint32_t f : full ? in_flight_ : reopened_)
    if (flow_state_[f] == kActive && flow_round_[f] == kUnfixed) set_rate(f, 0.0, now_s);
  reopened_.clear();
  arrived_.clear();
  finished_.clear();
  if (events_dirty_) rebuild_event_heap();
  defer_events_ = false;
  if (diag_) diag_after_solve(rounds_kept);
}

std::vector<double> FluidMaxMin::run(std::span<const Flow> flows, double issue_tolerance_s) {
  return run(huge_vector<Flow>(flows.begin(), flows.end()), issue_tolerance_s);
}

std::vector<double> FluidMaxMin::run(huge_vector<Flow>&& flows, double issue_tolerance_s) {
  const std::size_t n = flows.size();
  if (n >= std::numeric_limits<std::uint32_t>::max() / 2) throw std::length_error("fluid engine: too many flows in one run");
  std::vector<double> finish(n, kNever);
  if (n == 0) return finish;
  flow_route_.resize(n);
  flow_rate_.assign(n, 0);
  flow_remains_.resize(n);
  flow_updated_s_.resize(n);
  flow_round_.assign(n, kUnfixed);
  event_pos_.assign(n, kNoEvent);
  flow_collected_.assign(n, 0);
  flow_state_.assign(n, kPending);
  diag_ = std::getenv("MOESIM_FLUID_CHANGES") != nullptr;
  if (diag_) {
    flow_bottleneck_.assign(n, 0xffffffffu);
    flow_bottleneck_prev_.assign(n, 0xffffffffu);
    link_saturated_round_.assign(link_bound_.size(), 0);
    link_level_.assign(link_bound_.size(), 0);
    link_level_prev_.assign(link_bound_.size(), std::numeric_limits<double>::quiet_NaN());
    diag_saturated_prev_.clear();
    diag_rates_changed_before_ = rates_changed_;
  }
  std::fill(link_max_inv_.begin(), link_max_inv_.end(), 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    if (flows[i].route >= route_latency_.size()) throw std::invalid_argument("fluid engine: flow names an unknown route");
    if (!(flows[i].bandwidth_factor > 0)) throw std::invalid_argument("fluid engine: a bandwidth factor must be > 0");
    const std::uint32_t r = flows[i].route;
    flow_route_[i] = r;
    flow_remains_[i] = flows[i].bytes / flows[i].bandwidth_factor;  // factor x share bytes per second
    flow_updated_s_[i] = flows[i].start_s;  // its start time until it is issued
    for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k)
      if (link_fatpipe_[route_links_[k]])
        link_max_inv_[route_links_[k]] = std::max(link_max_inv_[route_links_[k]], inv_penalty(r));
  }
  // Links' flows (CSR), rebuilt without the finished flows when they are the majority.
  auto build_link_flows = [&]() {
    link_flows_first_.assign(link_bound_.size() + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
      if (flow_state_[i] == kDone) continue;
      std::uint32_t r = flow_route_[i];
      for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k) ++link_flows_first_[route_links_[k] + 1];
    }
    std::partial_sum(link_flows_first_.begin(), link_flows_first_.end(), link_flows_first_.begin());
    link_flows_.resize(link_flows_first_.back());
    std::vector<std::uint64_t> fill_at(link_flows_first_.begin(), link_flows_first_.end() - 1);
    for (std::size_t i = 0; i < n; ++i) {
      if (flow_state_[i] == kDone) continue;
      std::uint32_t r = flow_route_[i];
      for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k)
        link_flows_[fill_at[route_links_[k]]++] = static_cast<std::uint32_t>(i);
    }
    link_flows_.shrink_to_fit();
    std::erase_if(in_flight_, [&](std::uint32_t f) { return flow_state_[f] == kDone; });
  };
  reset_links();
  in_flight_.clear();
  events_.clear();
  arrived_.clear();
  finished_.clear();
  active_elements_ = 0;
  work_since_full_ = 0;
  force_full_ = true;
  build_link_flows();
  std::size_t live = n, done_since_build = 0;

  huge_vector<Flow>().swap(flows);  // all in the solver's arrays now: 32 bytes a flow back for the run
  // Flows in start order; already so when they all start together (a direct all-to-all without
  // per-message overheads): then no order array (4 bytes a flow, and the sort's buffer).
  // Start times sit in flow_updated_s_ until each flow is issued (read only for flows not yet issued).
  auto start_s_of = [&](std::uint32_t f) { return flow_updated_s_[f]; };
  const bool start_ordered = std::is_sorted(flow_updated_s_.begin(), flow_updated_s_.end());
  huge_vector<std::uint32_t> order;
  if (!start_ordered) {
    order.resize(n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return start_s_of(a) < start_s_of(b); });
  }
  auto in_start_order = [&](std::size_t k) { return start_ordered ? static_cast<std::uint32_t>(k) : order[k]; };
  std::size_t next_start = 0, in_flight_count = 0;
  double t = clock_s_;
  const double run_start_s = t;
  const double remains_precision = precision_.maxmin * precision_.timing;

  double last_finish_s = t;
  // at_s: the flow's own completion (the approximate mode records it; the exact engine ends it now).
  auto finish_flow = [&](std::uint32_t f, double at_s) {
    flow_state_[f] = kDone;
    remove_event(f);
    finish[f] = approximate() ? std::max(t, at_s) : t;
    last_finish_s = std::max(last_finish_s, finish[f]);
    --live;
    --in_flight_count;
    ++done_since_build;
  };
  auto activate = [&](std::uint32_t f) {
    if (route_length(flow_route_[f]) == 0) {  // no link: done once its latency is paid
      finish_flow(f, t);
      return;
    }
    flow_state_[f] = kActive;
    flow_updated_s_[f] = t;
    active_elements_ += route_length(flow_route_[f]);
    arrived_.push_back(f);
  };
  // Flows whose start has come are issued at this clock; they pay their latency first.
  auto issue = [&]() {
    while (next_start < n && start_s_of(in_start_order(next_start)) - t <= issue_tolerance_s) {
      const std::uint32_t f = in_start_order(next_start++);
      in_flight_.push_back(f);
      ++in_flight_count;
      const double latency_s = route_latency_[flow_route_[f]];
      if (latency_s > 0) {
        flow_state_[f] = kPayingLatency;
        set_event(f, t + latency_s);
      } else {
        activate(f);
      }
    }
  };
  // A flow has an event only while it pays its latency or moves bytes (finish_flow removes it), so
  // every event in the heap is live.
  std::vector<Event> kept;
  issue();
  while (true) {
    if (!arrived_.empty() || !finished_.empty()) solve(t);
    // Next event, as CM02's full update: the nearest completion at current rates, the nearest end of
    // a latency, or the next flow's start.
    double next = kNever;
    if (!events_.empty()) next = std::max(t, events_.front().time_s);
    if (next_start < n) next = std::min(next, std::max(t, start_s_of(in_start_order(next_start))));
    if (next == kNever) {
      if (in_flight_count > 0) throw std::runtime_error("fluid engine: flows left with no bandwidth (a zero-capacity path?)");
      break;
    }
    t = next;
    // Flows that mathematically end together end a few ulps apart after different rounding
    // histories; SimGrid's full update would step through each (hundreds of re-solves of 10^6
    // flows). Those ending within 1e-12 of the run's elapsed time after this step end with it.
    // A latency within the timing precision of the clock is paid (SimGrid's double_update).
    const double merge_s = merge_relative_ * (t - run_start_s);
    const double horizon_s = t + std::max(merge_s, precision_.timing);
    kept.clear();
    auto take = [&](const Event& e) {
      const std::uint32_t f = e.flow;
      const double left_s = e.time_s - t;
      if (flow_state_[f] == kPayingLatency) {
        if (left_s < precision_.timing)
          activate(f);
        else
          kept.push_back(e);
      } else if (left_s <= merge_s || left_s * flow_rate_[f] < remains_precision) {
        finish_flow(f, e.time_s);
        active_elements_ -= route_length(flow_route_[f]);
        finished_.push_back(f);
      } else {
        kept.push_back(e);
      }
    };
    // Every event up to the horizon. One by one from the heap (a cache miss a level), unless the
    // window holds a large part of it (a uniform all-to-all: every flow's latency, then every flow's
    // end, in one window each): then one pass splits the window off and one make_heap rebuilds the rest.
    const std::size_t bulk_after = std::max(kBulkWindowEvents, events_.size() / kBulkWindowShare);
    for (std::size_t popped = 0; !events_.empty() && events_.front().time_s <= horizon_s; ++popped) {
      if (popped == bulk_after) {
        ++bulk_windows_;
        const auto window = std::partition(events_.begin(), events_.end(),
                                           [&](const Event& e) { return !(e.time_s <= horizon_s); });
        for (auto it = window; it != events_.end(); ++it) event_pos_[it->flow] = kNoEvent;
        std::for_each(window, events_.end(), take);
        events_.erase(window, events_.end());
        rebuild_event_heap();
        break;
      }
      take(pop_event());
    }
    for (const Event& e : kept) set_event(e.flow, e.time_s);
    if (done_since_build > live) {
      build_link_flows();
      done_since_build = 0;
    }
    issue();
  }
  clock_s_ = std::max(t, last_finish_s);
  if (diag_) diag_print(true);
  return finish;
}

}  // namespace moesim::sim
