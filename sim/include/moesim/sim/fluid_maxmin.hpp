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
//   - rates are re-solved at every event (a flow's latency paid, a flow finished); time moves as in
//     CM02's full update (network/optim:Full): to the nearest event, every flow in flight advanced;
//   - the same precision thresholds as lmm (maxmin/precision, surf/precision) decide when a link
//     is saturated, a latency paid, a flow done.
//
// SimGrid's default lazy update (network/optim:Lazy) re-solves only the links it marks modified
// and can then give flows more than a link carries (sim/README.md has a 4-GPU case); SimGrid's full
// update is the reference the fluid engine reproduces.
//
// Links and routes come from the SimGrid platform (FlowNetwork looks them up with Host::route_to),
// so the topology stays SimGrid's; only the solver is ours. Memory: one route per GPU pair plus
// ~60 bytes per flow in flight; no per-flow objects.
#include <cstdint>
#include <span>
#include <vector>

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
  std::size_t routes() const { return route_first_.size(); }
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

  double clock_s() const { return clock_s_; }
  void set_clock_s(double t) { clock_s_ = t; }
  std::uint64_t solves() const { return solves_; }

 private:
  void solve(std::span<const std::uint32_t> active);

  FluidPrecision precision_;
  double clock_s_ = 0;
  std::uint64_t solves_ = 0;
  // Links.
  std::vector<double> link_bound_;
  std::vector<std::uint8_t> link_fatpipe_;
  // Routes: links route_links_[route_first_[r] .. route_first_[r + 1]).
  std::vector<std::uint32_t> route_first_{0};
  std::vector<std::uint32_t> route_links_;
  std::vector<double> route_latency_;
  std::vector<double> route_bound_;  // min bandwidth of the route's links (CM02's user bound)

  // Per run (indexed by flow of the current run).
  std::vector<std::uint32_t> flow_route_;
  std::vector<double> flow_inv_penalty_, flow_penalty_, flow_rate_, flow_remains_, flow_latency_left_;
  std::vector<std::uint32_t> flow_fixed_in_;  // solve number in which the rate was fixed
  std::vector<std::uint8_t> flow_active_;
  // Links' flows in this run (CSR), compacted as flows finish.
  std::vector<std::uint64_t> link_flows_first_;
  std::vector<std::uint32_t> link_flows_;
  // Solver scratch, per link.
  std::vector<double> remaining_, usage_, ratio_;
  std::vector<std::int32_t> light_index_;  // position in the light list, -1 = not in it
  std::vector<std::uint32_t> light_;
  std::vector<std::uint32_t> touched_;
  std::vector<std::uint32_t> unfixed_;        // shared links: elements of unfixed flows
  std::vector<std::uint32_t> fat_max_count_;  // fat pipes: unfixed flows at the largest 1/penalty
  std::vector<std::uint8_t> fat_stale_;       // fat pipes: usage to be recomputed before use
};

}  // namespace moesim::sim
