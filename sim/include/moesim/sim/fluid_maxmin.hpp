#pragma once
// The fluid engine: flow-level max-min fair sharing of our own, for all-to-alls too large for one
// SimGrid comm per flow (a 1024-GPU direct all-to-all is 1,047,552 flows). It computes what
// SimGrid 3.32's CM02 network model computes (TCP factors off), without one kernel object per flow:
//
//   - a flow first pays its route latency (sum of its links' latencies), then shares bandwidth;
//   - sharing is SimGrid's weighted max-min (lmm::System::solve, progressive filling): a flow's
//     share on a bottleneck is proportional to 1 / its sharing penalty, the penalty being its
//     route latency (1 for a zero-latency route) -- CM02's RTT-unfairness;
//   - a SHARED link (split-duplex halves included) bounds the sum of its flows' rates, a FATPIPE
//     link each flow's rate alone;
//   - rates change at every event (a flow's latency paid, a flow finished); time moves as in
//     CM02's full update (network/optim:Full): to the nearest event, every flow in flight advanced
//     (here lazily: a flow's bytes are brought up to date only when its rate changes);
//   - the same precision thresholds as lmm (maxmin/precision, surf/precision) decide when a link
//     is saturated, a latency paid, a flow done.
//
// SimGrid's default lazy update (network/optim:Lazy) re-solves only the links it marks modified
// and can then give flows more than a link carries (sim/README.md has a 4-GPU case); SimGrid's full
// update is the reference the fluid engine reproduces.
//
// Incremental solve (the default). Progressive filling fixes flows round by round at non-decreasing
// levels; a round depends only on the flows fixed before it and on the links' unfixed usage. So
// when flows finish, every round before the first round that fixed one of them is unchanged (their
// links' ratios only grow without them), and when flows arrive, every round before the first one
// whose level reaches an arriving flow's link ratio is unchanged. The solver keeps an undo log of
// the rounds (per round, each link it touched: remaining before, usage and unfixed-count changes),
// rolls back to that round, patches the arriving / leaving flows' usage in and out and fills again
// from there: the same rounds a full re-solve would run, without re-running the unchanged prefix.
// Only flows whose rate changed (by more than rounding: 1e-13 relative) get a new completion time (an event heap). A full solve from scratch
// runs whenever the incremental work since the last one exceeds four full solves', which also bounds
// the rounding drift of the undone usage sums. set_incremental(false) re-solves every flow at every
// event (the reference the incremental answer is tested against).
//
// Links and routes come from the SimGrid platform (FlowNetwork asks SimGrid for them: fluid_routes.hpp),
// so the topology stays SimGrid's; only the solver is ours. Memory: one route per GPU pair (its
// links, 4 bytes each, and its latency: a route's bound and 1/penalty are derived when needed) plus
// ~80 bytes per flow in flight (state, event heap, fixing order) and 4 per (flow, link); no per-flow
// objects. Arrays that grow with flows or routes are on huge pages (huge_page_allocator.hpp).
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "moesim/sim/huge_page_allocator.hpp"

namespace moesim::sim {

struct FluidPrecision {
  double maxmin = 1e-5;  // SimGrid's maxmin/precision: relative slack under which a link is saturated
  double timing = 1e-9;  // SimGrid's surf/precision: a latency this close (seconds) to paid is paid
};

class FluidMaxMin {
 public:
  explicit FluidMaxMin(FluidPrecision precision = {}) : precision_(precision) {}

  // fatpipe: each flow alone is bounded by the bandwidth (SimGrid's FATPIPE); else the sum is.
  std::uint32_t add_link(double bandwidth_Bps, bool fatpipe);
  // A route is a sequence of links (a link listed twice counts twice) and its one-way latency.
  std::uint32_t add_route(std::span<const std::uint32_t> links, double latency_s);
  std::size_t routes() const { return route_first_.size() - 1; }
  // Room for this many routes and route links in all (so that a large batch does not double them).
  void reserve_routes(std::size_t routes, std::size_t links);
  std::size_t route_links() const { return route_links_.size(); }
  std::size_t links() const { return link_bound_.size(); }
  double route_latency_s(std::uint32_t route) const { return route_latency_[route]; }

  struct Flow {
    std::uint32_t route = 0;
    double bytes = 0;    // > 0
    double start_s = 0;  // absolute, >= clock_s()
    // The size-dependent bandwidth factor SimGrid 3.32 gives this flow (a network model callback,
    // calibration.bandwidth_factors): measured on 3.32, the flow takes its max-min share of the
    // links like any other but moves factor x share bytes per second (sim/README.md).
    double bandwidth_factor = 1.0;  // > 0
  };
  // Simulates the flows from clock_s() until the last one ends; returns each flow's absolute
  // finish time. The clock then stands at the last event, as SimGrid's does after Engine::run().
  // A flow is issued at the first event at most issue_tolerance_s before its start (SimGrid wakes
  // an actor sleeping until a start within its timing precision; maestro's run_until is exact).
  std::vector<double> run(std::span<const Flow> flows, double issue_tolerance_s = 0);
  // The same, releasing `flows` once they are in the solver's own arrays (before the run).
  std::vector<double> run(huge_vector<Flow>&& flows, double issue_tolerance_s = 0);

  double clock_s() const { return clock_s_; }
  void set_clock_s(double t) { clock_s_ = t; }
  // Off: every event re-solves every flow from scratch (the reference for the incremental solve).
  void set_incremental(bool on) { incremental_ = on; }
  // Completions within this fraction of the run's elapsed time are one event. The default
  // (kExactMerge) only merges flows that end together up to rounding. A larger value is the
  // approximate mode (`--fluid-merge`, never the default): the flows ending within the window leave
  // the network together at the window's first completion, each recorded at its own completion time
  // at the rates then in force; the others see the freed bandwidth up to that fraction early.
  static constexpr double kExactMerge = 1e-12;
  void set_merge_relative(double fraction) { merge_relative_ = fraction > kExactMerge ? fraction : kExactMerge; }
  bool approximate() const { return merge_relative_ > kExactMerge; }
  std::uint64_t solves() const { return solves_; }            // events that changed rates
  std::uint64_t full_solves() const { return full_solves_; }  // of those, solved from scratch
  std::uint64_t flows_fixed() const { return flows_fixed_; }  // rates set, summed over solves (the work)
  std::uint64_t rates_changed() const { return rates_changed_; }  // of those, to a new value
  std::uint64_t bulk_windows() const { return bulk_windows_; }  // event windows split off the heap in one pass

 private:
  static constexpr std::uint32_t kUnfixed = 0xffffffffu;
  static constexpr std::uint32_t kNoEvent = 0xffffffffu;
  struct Event {  // a flow's completion or end of latency: at most one per flow (event_pos_)
    double time_s;
    std::uint32_t flow;
    // Earlier first; equal times by flow id, so the order never depends on the heap's history.
    bool before(const Event& o) const { return time_s < o.time_s || (time_s == o.time_s && flow < o.flow); }
  };
  struct LogEntry {  // a link's state before a round touched it (what undo restores)
    std::uint32_t link, unfixed_removed;
    double remaining_before, usage_change;
    double value_sum;  // while the round fixes flows: the sum of their rates on this link
  };

  // Solver state across events.
  void solve(double now_s);
  void reset_links();
  void init_link(std::uint32_t l);
  void add_usage(std::uint32_t f);
  void remove_usage(std::uint32_t f);
  void undo_last_round();
  void fill(double now_s);
  void refresh_fat_pipe(std::uint32_t l);
  void log_link(std::uint32_t l);
  void mark_changed(std::uint32_t l);
  void refresh_changed();
  bool light_condition(std::uint32_t l) const;
  void set_rate(std::uint32_t f, double rate, double now_s);
  // Indexed min-heap of the flows' events: a flow's event moves when its rate changes instead of a
  // new one being pushed and the old one left to be popped as stale.
  void set_event(std::uint32_t f, double time_s);
  void remove_event(std::uint32_t f);
  Event pop_event();
  void event_sift_up(std::size_t i);
  void event_sift_down(std::size_t i);
  void rebuild_event_heap();  // one make_heap after a full solve moved events in place (defer_events_)
  void event_place(std::size_t i, const Event& e) {
    events_[i] = e;
    event_pos_[e.flow] = static_cast<std::uint32_t>(i);
  }
  // Indexed min-heap of the links still in the filling ("light"), keyed by remaining / usage.
  void heap_set(std::uint32_t l, bool in);
  void heap_sift_up(std::size_t i);
  void heap_sift_down(std::size_t i);
  void heap_place(std::size_t i, std::uint32_t l);
  void collect_min_ties(std::vector<std::uint32_t>& out);
  std::uint32_t next_stamp();
  std::uint32_t route_length(std::uint32_t r) const { return route_first_[r + 1] - route_first_[r]; }

  FluidPrecision precision_;
  bool incremental_ = true;
  double merge_relative_ = kExactMerge;
  double clock_s_ = 0;
  std::uint64_t solves_ = 0, full_solves_ = 0, flows_fixed_ = 0, rates_changed_ = 0, bulk_windows_ = 0;
  // Links.
  std::vector<double> link_bound_;
  double min_link_bound_ = std::numeric_limits<double>::infinity();  // the narrowest link's bandwidth
  std::vector<std::uint8_t> link_fatpipe_;
  // Routes: links route_links_[route_first_[r] .. route_first_[r + 1]).
  huge_vector<std::uint32_t> route_first_{0};
  huge_vector<std::uint32_t> route_links_;
  huge_vector<double> route_latency_;
  // Derived from the route when needed rather than stored: 16 bytes a route, 256 MB at 4096 GPUs
  // (measured). The bound walks the route's links, so fill() walks it only where the narrowest
  // link of all could bind (fat-tree-1024 uniform: that filter took the instructions it added back).
  double penalty(std::uint32_t r) const { return route_latency_[r] > 0 ? route_latency_[r] : 1.0; }
  double inv_penalty(std::uint32_t r) const { return 1.0 / penalty(r); }  // CM02: 1 / the route latency, 1 without
  double route_bound(std::uint32_t r) const;  // min bandwidth of the route's links (CM02's user bound), -1 if none

  // Per run (indexed by flow of the current run).
  huge_vector<std::uint32_t> flow_route_;
  huge_vector<double> flow_rate_, flow_remains_;
  // Once issued: the time flow_remains_ is as of. Before: the flow's start time (read only then).
  huge_vector<double> flow_updated_s_;
  huge_vector<std::uint32_t> flow_round_;      // round that fixed the flow's rate, kUnfixed if none
  huge_vector<std::uint32_t> event_pos_;       // the flow's event's place in events_, kNoEvent if none
  huge_vector<std::uint32_t> flow_collected_;  // round stamp when gathered on a saturated link
  huge_vector<std::uint8_t> flow_state_;
  huge_vector<Event> events_;  // min-heap by Event::before, one event per flow at most
  // During a full solve events move in place, unsorted, and the heap is rebuilt once at its end: a
  // full solve can move every flow's event (16.8 M at 4096 GPUs), and a sift each would cost log n
  // cache misses where make_heap costs one pass.
  bool defer_events_ = false, events_dirty_ = false;
  huge_vector<std::uint32_t> in_flight_;  // issued, not done (done ones dropped at CSR rebuilds)
  huge_vector<std::uint32_t> arrived_, finished_, reopened_, vars_;
  std::vector<std::uint32_t> ties_, tie_stack_;
  std::uint64_t active_elements_ = 0;  // (flow, link) pairs of the active flows: a full solve's work
  // Links' flows in this run (CSR), compacted as flows finish.
  std::vector<std::uint64_t> link_flows_first_;
  huge_vector<std::uint32_t> link_flows_;
  std::vector<double> link_max_inv_;  // largest 1/penalty of the run's flows on a fat pipe

  // Filling state per link, valid while link_live_: what progressive filling holds after the last
  // round; rounds and their undo log.
  std::vector<double> remaining_, usage_, ratio_;
  std::vector<std::uint32_t> unfixed_;        // elements of unfixed flows
  std::vector<std::uint32_t> fat_max_count_;  // fat pipes: unfixed flows at the largest 1/penalty
  std::vector<std::uint8_t> fat_stale_;       // fat pipes: usage an upper bound, recompute before use
  std::vector<std::uint8_t> link_live_;
  std::vector<std::uint32_t> live_links_, fat_live_;
  std::vector<std::int32_t> heap_pos_;  // -1: not in the heap
  std::vector<std::uint32_t> heap_;
  std::vector<std::uint32_t> log_stamp_, log_index_, changed_stamp_;
  std::vector<double> arrival_usage_;  // scratch: usage the arriving flows add per link
  std::vector<std::uint32_t> changed_, arrival_links_;
  std::uint32_t stamp_ = 0;  // one per round and per batch of changes
  std::vector<double> round_level_;
  std::vector<std::uint32_t> round_flow_begin_, round_log_begin_;
  huge_vector<std::uint32_t> fixed_order_;
  std::vector<LogEntry> log_;
  std::uint64_t work_since_full_ = 0;
  bool force_full_ = true;
  // Diagnostic (MOESIM_FLUID_CHANGES=1, fluid_maxmin_changes.cpp): per event, the saturated links whose
  // level changed, the flows whose bottleneck link changed, the fan-out a level change needs. Off by
  // default; its arrays are allocated only when on.
  struct ChangesEvent {
    std::uint32_t active_elements, saturated_links, rounds, rounds_rerun;
    std::uint32_t links_level_changed, links_newly_saturated, links_unsaturated;
    std::uint32_t flows_bottleneck_changed, flows_on_changed_level;
    std::uint64_t rates_changed, fan_out_later_flow_pairs, fan_out_later_link_pairs;
    std::uint64_t fan_out_unsaturated_flow_pairs, fan_out_unsaturated_link_pairs;
  };
  void diag_after_solve(std::size_t rounds_kept);
  void diag_count_level_changes(ChangesEvent& e);
  void diag_count_fan_out(ChangesEvent& e, std::size_t rounds_kept);
  void diag_print(bool clear);
  void time_oracle_fan_out();
  bool diag_ = false;
  std::vector<std::uint32_t> flow_bottleneck_, flow_bottleneck_prev_;  // the link that fixed the flow
  std::vector<std::uint32_t> link_saturated_round_, round_ties_begin_, ties_log_;
  std::vector<double> link_level_, link_level_prev_;  // NaN: not saturated
  std::vector<std::uint32_t> diag_saturated_, diag_saturated_prev_, diag_is_saturated_, diag_level_changed_;
  std::uint32_t diag_stamp_ = 0;
  std::vector<std::uint64_t> diag_later_pairs_, diag_unsaturated_pairs_;  // (link << 32 | bottleneck)
  std::vector<std::uint32_t> diag_moved_;
  std::vector<double> diag_scratch_, diag_weights_;
  double diag_oracle_flow_cpu_s_ = 0, diag_oracle_pair_cpu_s_ = 0;
  std::vector<ChangesEvent> diag_events_;
  std::uint64_t diag_rates_changed_before_ = 0;
};

}  // namespace moesim::sim
