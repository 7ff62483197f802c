// Diagnostic of issue 21 (MOESIM_FLUID_CHANGES=1, stderr): per event, how many saturated links change
// their fair level and how many flows change their bottleneck link, and how far a level change must
// propagate (to links saturated later, to links that are not saturated). These numbers decide whether
// a solver storing rates per bottleneck link (a level change = one update) can beat one storing a rate
// per flow: sim/README.md "Skewed workloads: the incremental solver".
#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "moesim/sim/fluid_maxmin.hpp"

namespace moesim::sim {

namespace {
constexpr std::uint32_t kNoBottleneck = 0xffffffffu;
// Levels recomputed by a re-run round differ from the old ones by rounding; this is a change.
constexpr double kLevelChangeRelative = 1e-12;
constexpr std::size_t kPrintEveryEvents = 20000;
// CPU time, not wall: this machine is shared.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

// The links saturated after this solve, their levels against the last solve's.
void FluidMaxMin::diag_count_level_changes(ChangesEvent& e) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  diag_saturated_.clear();
  for (std::size_t r = 0; r < round_level_.size(); ++r) {
    std::size_t end = r + 1 < round_ties_begin_.size() ? round_ties_begin_[r + 1] : ties_log_.size();
    for (std::size_t i = round_ties_begin_[r]; i < end; ++i) diag_saturated_.push_back(ties_log_[i]);
  }
  if (diag_is_saturated_.size() != link_bound_.size()) diag_is_saturated_.assign(link_bound_.size(), 0), diag_level_changed_.assign(link_bound_.size(), 0);
  ++diag_stamp_;
  auto& is_sat = diag_is_saturated_;
  auto& changed = diag_level_changed_;
  for (std::uint32_t l : diag_saturated_) is_sat[l] = diag_stamp_;
  e.saturated_links = static_cast<std::uint32_t>(diag_saturated_.size());
  for (std::uint32_t l : diag_saturated_) {
    const double prev = link_level_prev_[l];
    if (std::isnan(prev)) { ++e.links_newly_saturated; changed[l] = diag_stamp_; }
    else if (std::fabs(link_level_[l] - prev) > kLevelChangeRelative * prev) { ++e.links_level_changed; changed[l] = diag_stamp_; }
  }
  for (std::uint32_t l : diag_saturated_prev_) if (is_sat[l] != diag_stamp_) ++e.links_unsaturated;
  for (std::uint32_t l : diag_saturated_prev_) link_level_prev_[l] = nan;
  for (std::uint32_t l : diag_saturated_) link_level_prev_[l] = link_level_[l];
  diag_saturated_prev_.swap(diag_saturated_);
}

// The flows this solve fixed again: those whose bottleneck or its level changed, and the links their
// rates reach (saturated at a later round: its level depends on them; unsaturated: it may saturate).
void FluidMaxMin::diag_count_fan_out(ChangesEvent& e, std::size_t rounds_kept) {
  const auto& is_sat = diag_is_saturated_;
  const auto& changed = diag_level_changed_;
  diag_later_pairs_.clear();
  diag_unsaturated_pairs_.clear();
  diag_moved_.clear();
  const std::size_t first = rounds_kept < round_flow_begin_.size() ? round_flow_begin_[rounds_kept] : fixed_order_.size();
  for (std::size_t i = first; i < fixed_order_.size(); ++i) {
    const std::uint32_t f = fixed_order_[i];
    const std::uint32_t b = flow_bottleneck_[f];
    const bool moved = b != flow_bottleneck_prev_[f];
    if (moved && flow_bottleneck_prev_[f] != kNoBottleneck) ++e.flows_bottleneck_changed;
    flow_bottleneck_prev_[f] = b;
    if (b >= link_bound_.size()) continue;
    if (!moved && changed[b] != diag_stamp_) continue;
    ++e.flows_on_changed_level;
    diag_moved_.push_back(f);
    const std::uint32_t r = flow_route_[f];
    for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k) {
      const std::uint32_t l = route_links_[k];
      if (l == b) continue;
      if (is_sat[l] != diag_stamp_) {
        ++e.fan_out_unsaturated_flow_pairs;
        diag_unsaturated_pairs_.push_back((std::uint64_t{l} << 32) | b);
        continue;
      }
      if (link_saturated_round_[l] <= link_saturated_round_[b]) continue;
      ++e.fan_out_later_flow_pairs;
      diag_later_pairs_.push_back((std::uint64_t{l} << 32) | b);
    }
  }
  std::sort(diag_later_pairs_.begin(), diag_later_pairs_.end());
  e.fan_out_later_link_pairs = static_cast<std::uint64_t>(std::unique(diag_later_pairs_.begin(), diag_later_pairs_.end()) - diag_later_pairs_.begin());
  std::sort(diag_unsaturated_pairs_.begin(), diag_unsaturated_pairs_.end());
  e.fan_out_unsaturated_link_pairs = static_cast<std::uint64_t>(std::unique(diag_unsaturated_pairs_.begin(), diag_unsaturated_pairs_.end()) - diag_unsaturated_pairs_.begin());
  diag_later_pairs_.resize(e.fan_out_later_link_pairs);
  diag_unsaturated_pairs_.resize(e.fan_out_unsaturated_link_pairs);
}

void FluidMaxMin::diag_after_solve(std::size_t rounds_kept) {
  ChangesEvent e{};
  e.active_elements = static_cast<std::uint32_t>(active_elements_);
  diag_count_level_changes(e);
  diag_count_fan_out(e, rounds_kept);
  time_oracle_fan_out();
  e.rounds = static_cast<std::uint32_t>(round_level_.size());
  e.rounds_rerun = static_cast<std::uint32_t>(round_level_.size() - rounds_kept);
  e.rates_changed = rates_changed_ - diag_rates_changed_before_;
  diag_rates_changed_before_ = rates_changed_;
  diag_events_.push_back(e);
  if (diag_events_.size() % kPrintEveryEvents == 0) diag_print(false);
}

// The least a solver storing rates per bottleneck must do once it knows which levels changed: apply
// each changed level to the links its flows cross (per flow: walk the routes; aggregated: one update
// per (link, bottleneck) pair, weights kept per pair). Timed on a scratch array, nothing else done.
void FluidMaxMin::time_oracle_fan_out() {
  constexpr double kLevelDelta = 1e-3;
  if (diag_scratch_.size() != link_bound_.size()) diag_scratch_.assign(link_bound_.size(), 0.0);
  const double t0 = thread_cpu_s();
  for (std::uint32_t f : diag_moved_) {
    const std::uint32_t r = flow_route_[f];
    const double delta = kLevelDelta * inv_penalty(r);
    for (std::uint32_t k = route_first_[r]; k < route_first_[r + 1]; ++k)
      if (route_links_[k] != flow_bottleneck_[f]) diag_scratch_[route_links_[k]] += delta;
  }
  const double t1 = thread_cpu_s();
  const std::size_t pairs = static_cast<std::size_t>(diag_later_pairs_.size() + diag_unsaturated_pairs_.size());
  if (diag_weights_.size() < pairs) diag_weights_.resize(pairs, kLevelDelta);
  std::size_t i = 0;
  for (auto* v : {&diag_later_pairs_, &diag_unsaturated_pairs_})
    for (std::uint64_t p : *v) diag_scratch_[p >> 32] += diag_weights_[i++];
  const double t2 = thread_cpu_s();
  diag_oracle_flow_cpu_s_ += t1 - t0;
  diag_oracle_pair_cpu_s_ += t2 - t1;
}

void FluidMaxMin::diag_print(bool clear) {
  auto stat = [&](const char* name, auto get) {
    std::vector<double> v;
    for (const auto& e : diag_events_) v.push_back(static_cast<double>(get(e)));
    if (v.empty()) return;
    double sum = std::accumulate(v.begin(), v.end(), 0.0);
    std::sort(v.begin(), v.end());
    std::fprintf(stderr, "  %-34s mean %10.1f  p50 %9.0f  p90 %9.0f  p99 %9.0f  max %9.0f  total %.4g\n", name, sum / v.size(),
                 v[v.size() / 2], v[v.size() * 9 / 10], v[v.size() * 99 / 100], v.back(), sum);
  };
  std::fprintf(stderr, "fluid changes per event (%zu events%s):\n", diag_events_.size(), clear ? "" : ", so far");
  stat("active (flow,link) elements", [](const ChangesEvent& e) { return e.active_elements; });
  stat("saturated links", [](const ChangesEvent& e) { return e.saturated_links; });
  stat("rounds", [](const ChangesEvent& e) { return e.rounds; });
  stat("rounds re-run", [](const ChangesEvent& e) { return e.rounds_rerun; });
  stat("links level changed (was sat.)", [](const ChangesEvent& e) { return e.links_level_changed; });
  stat("links newly saturated", [](const ChangesEvent& e) { return e.links_newly_saturated; });
  stat("links no longer saturated", [](const ChangesEvent& e) { return e.links_unsaturated; });
  stat("flows changed bottleneck", [](const ChangesEvent& e) { return e.flows_bottleneck_changed; });
  stat("flows on changed level/bneck", [](const ChangesEvent& e) { return e.flows_on_changed_level; });
  stat("rates changed", [](const ChangesEvent& e) { return e.rates_changed; });
  stat("propagation (flow,link) pairs", [](const ChangesEvent& e) { return e.fan_out_later_flow_pairs; });
  stat("propagation (link,bneck) pairs", [](const ChangesEvent& e) { return e.fan_out_later_link_pairs; });
  stat("non-saturated (flow,link) pairs", [](const ChangesEvent& e) { return e.fan_out_unsaturated_flow_pairs; });
  stat("non-saturated (link,bneck) pairs", [](const ChangesEvent& e) { return e.fan_out_unsaturated_link_pairs; });
  double checksum = 0;
  for (double x : diag_scratch_) checksum += x;
  std::fprintf(stderr, "  oracle fan-out CPU: per flow %.3f s, per (link, bottleneck) pair %.3f s (checksum %g)\n", diag_oracle_flow_cpu_s_,
               diag_oracle_pair_cpu_s_, checksum);
  if (clear) diag_events_.clear(), diag_oracle_flow_cpu_s_ = 0, diag_oracle_pair_cpu_s_ = 0;
}

}  // namespace moesim::sim
