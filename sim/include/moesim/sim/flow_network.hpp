#pragma once
// The one place where flows meet SimGrid: a set of (src GPU, dst GPU, bytes, start time) flows is
// launched as SimGrid host-to-host communications (Comm::sendto_async from maestro: no actor per
// flow, no mailbox), the engine runs until they all finish, and each flow's finish time comes back.
//
// Time is measured from a phase origin set by begin_phase(): an algorithm with several rounds calls
// run() once per round with start times after the previous round's end. The fluid engine starts
// every phase at its own clock 0 and numbers the platform's links in SimGrid's (name) order, so a
// phase's times are a function of its flows alone, not of the phases simulated before it (which
// lets worker threads replay layers in any order and agree bit for bit: sim/README.md, "Threads").
// SimGrid has one process-wide clock: its phases start where the previous one ended.
//
// Several FlowNetworks (one per worker thread) may share one SimGrid platform with the fluid
// engine: set_engine() runs before the threads start, and route look-ups (Host::route_to, not
// known to be thread-safe) are serialised by a process-wide mutex.
//
// Two engines compute the flows' finish times: SimGrid itself (the default and the reference, one
// SimGrid comm per flow) or the fluid engine (fluid_maxmin.hpp: the same CM02 max-min sharing over
// the same SimGrid routes, solved by our own code with one array slot per flow; for scale).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <simgrid/forward.h>

#include "moesim/sim/zeroed_array.hpp"
#include "moesim/topologies/simgrid_platform.hpp"

namespace moesim::sim {

struct Flow {
  int src = 0;
  int dst = 0;
  double bytes = 0;    // > 0; rounded to whole bytes for SimGrid
  double start_s = 0;  // relative to the phase origin, >= now_s()
};

enum class NetworkEngine { kSimgrid, kFluid };
// "simgrid" or "fluid"; throws InputError naming the known engines.
NetworkEngine parse_network_engine(const std::string& name);
const char* to_string(NetworkEngine e);

class FluidMaxMin;
class FluidRoutes;

class FlowNetwork {
 public:
  // `platform` must already be built into the (single, process-wide) SimGrid engine.
  explicit FlowNetwork(topologies::SimgridPlatform platform);
  ~FlowNetwork();

  // Before the first run(). The fluid engine checks that SimGrid is configured as CM02 without TCP
  // factors (what it reproduces) and throws otherwise.
  void set_engine(NetworkEngine engine);
  NetworkEngine engine() const { return engine_; }
  // The fluid engine's approximate mode (`--fluid-merge`, after set_engine(kFluid)): completions
  // within `relative` x the run's elapsed time are one event (fluid_maxmin.hpp). 0 = exact.
  void set_fluid_merge(double relative);

  const topologies::SimgridPlatform& platform() const { return platform_; }
  int gpus() const { return static_cast<int>(platform_.gpus.size()); }

  void begin_phase();    // origin := SimGrid's clock; the fluid engine's clock restarts at 0
  double now_s() const;  // SimGrid's clock minus the origin
  // Finish time of each flow, relative to the origin. Flows need not be sorted.
  std::vector<double> run(std::span<const Flow> flows);

  // One SimGrid parallel task per source GPU instead of one comm per flow (needs SimGrid's
  // host/model:ptask_L07): all of a GPU's sends start together, at its earliest flow's start, and
  // progress at one common pace, so they all finish together. Returns that finish per flow.
  std::vector<double> run_per_source_tasks(std::span<const Flow> flows);

  std::uint64_t flows_simulated() const { return flows_simulated_; }

  // One-way latency of SimGrid's route src -> dst (links' latencies, no factor: CM02's is 1). With the
  // fluid engine the route is registered for the flows too, so each GPU pair is looked up once.
  double route_latency_s(int src, int dst);

 private:
  double clock_s() const;  // the engine's clock (SimGrid's, or the fluid engine's own)
  std::vector<double> run_fluid(std::span<const Flow> flows, double issue_tolerance_s);
  std::uint32_t fluid_route(int src, int dst);  // SimGrid's route src -> dst, registered once
  std::uint32_t fluid_link(const simgrid::s4u::Link* l);  // a SimGrid link's fluid id (numbered once)
  void register_fluid_links();                  // every shared / fat-pipe link, in SimGrid's order

  topologies::SimgridPlatform platform_;
  NetworkEngine engine_ = NetworkEngine::kSimgrid;
  double origin_s_ = 0;
  double fluid_merge_ = 0;
  double fluid_issue_tolerance_s_ = 0;  // SimGrid's surf/precision, read once in set_engine()
  std::uint64_t flows_simulated_ = 0;
  std::unique_ptr<FluidMaxMin> fluid_;
  std::unique_ptr<FluidRoutes> fluid_routes_;  // after fluid_: its look-ups number links in it
  // (gpus, gpus): route id + 1, 0 until looked up (untouched pages cost no memory).
  ZeroedArray<std::uint32_t> fluid_route_of_pair_;
  std::unordered_map<const simgrid::s4u::Link*, std::uint32_t> fluid_link_of_;
};

}  // namespace moesim::sim
