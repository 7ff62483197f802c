#include "moesim/sim/flow_network.hpp"

#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Exec.hpp>
#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/Link.hpp>
#include <xbt/config.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "moesim/common/bytes.hpp"
#include "moesim/common/error.hpp"
#include "moesim/sim/fluid_maxmin.hpp"
#include "fluid_routes.hpp"

namespace moesim::sim {
namespace sg4 = simgrid::s4u;

NetworkEngine parse_network_engine(const std::string& name) {
  if (name == "simgrid") return NetworkEngine::kSimgrid;
  if (name == "fluid") return NetworkEngine::kFluid;
  throw InputError(fmt::format("unknown network engine '{}' (known: simgrid, fluid)", name));
}

const char* to_string(NetworkEngine e) { return e == NetworkEngine::kFluid ? "fluid" : "simgrid"; }

namespace {

// SimGrid's routing is not known to be thread-safe (a routing zone may cache routes): worker
// threads' FlowNetworks look their routes up one at a time. Each pair is looked up once per
// network, so the lock is taken N^2 times per worker at most.
std::mutex& route_lookup_mutex() {
  static std::mutex m;
  return m;
}

double simgrid_route(const topologies::SimgridPlatform& p, int src, int dst, std::vector<sg4::Link*>& links) {
  double latency = 0;
  const std::scoped_lock lock(route_lookup_mutex());
  p.gpus[src]->route_to(p.gpus[dst], links, &latency);
  return latency;
}

bool fluid_sharing(const sg4::Link* l) {
  auto policy = l->get_sharing_policy();
  return policy == sg4::Link::SharingPolicy::SHARED || policy == sg4::Link::SharingPolicy::FATPIPE;
}

}  // namespace

FlowNetwork::FlowNetwork(topologies::SimgridPlatform platform) : platform_(std::move(platform)) {
  begin_phase();
}

FlowNetwork::~FlowNetwork() = default;

void FlowNetwork::set_engine(NetworkEngine engine) {
  engine_ = engine;
  if (engine != NetworkEngine::kFluid || fluid_) return;
  // The fluid engine reproduces CM02 with the TCP corrections off (topologies/src/simgrid_platform.cpp's
  // configure_flow_model); any other SimGrid network setting would make it silently wrong.
  namespace cfg = simgrid::config;
  auto model = cfg::get_value<std::string>("network/model");
  auto solver = cfg::get_value<std::string>("network/solver");
  bool cross = cfg::get_value<bool>("network/crosstraffic");
  double gamma = cfg::get_value<double>("network/TCP-gamma"), weight_s = cfg::get_value<double>("network/weight-S");
  double lat_factor = cfg::get_value<double>("network/latency-factor");
  double bw_factor = cfg::get_value<double>("network/bandwidth-factor");
  bool plain = model == "CM02" && solver == "maxmin" && !cross && gamma == 0 && weight_s == 0 && lat_factor == 1 &&
               bw_factor == 1;
  if (!plain)
    throw InputError(fmt::format("--engine fluid reproduces SimGrid's CM02 max-min model without TCP factors only "
                                 "(network/model:CM02 solver:maxmin crosstraffic:0 TCP-gamma:0 weight-S:0 factors 1); "
                                 "this run has network/model:{} solver:{} crosstraffic:{} TCP-gamma:{} weight-S:{} "
                                 "latency-factor:{} bandwidth-factor:{}",
                                 model, solver, cross ? 1 : 0, gamma, weight_s, lat_factor, bw_factor));
  FluidPrecision precision;
  precision.maxmin = cfg::get_value<double>("maxmin/precision");
  precision.timing = cfg::get_value<double>("surf/precision");
  fluid_issue_tolerance_s_ = precision.timing;
  fluid_ = std::make_unique<FluidMaxMin>(precision);
  register_fluid_links();
  begin_phase();
  const std::size_t n = platform_.gpus.size();
  fluid_route_of_pair_ = make_zeroed_array<std::uint32_t>(n * n);  // pairs never looked up cost no memory
  fluid_routes_ = std::make_unique<FluidRoutes>(platform_.gpus, [this](const sg4::Link* l) { return fluid_link(l); },
                                                route_lookup_mutex());
}

void FlowNetwork::set_fluid_merge(double relative) {
  if (!(relative >= 0) || !std::isfinite(relative)) throw std::invalid_argument("fluid merge tolerance must be finite and >= 0");
  if (relative > 0 && engine_ != NetworkEngine::kFluid)
    throw InputError("--fluid-merge is an approximation of the fluid engine: use it with --engine fluid");
  fluid_merge_ = relative;
}

// Link ids decide the order of ties in the solver's progressive filling, hence the last bits of its
// rates: numbered in SimGrid's order (by name), up front, they no longer depend on which routes
// were looked up first. Costs one solver slot per link of the platform (a few per GPU).
void FlowNetwork::register_fluid_links() {
  for (const sg4::Link* l : sg4::Engine::get_instance()->get_all_links())
    if (fluid_sharing(l) && !fluid_link_of_.contains(l))
      fluid_link_of_.emplace(l, fluid_->add_link(l->get_bandwidth(), l->get_sharing_policy() == sg4::Link::SharingPolicy::FATPIPE));
}

double FlowNetwork::clock_s() const {
  return engine_ == NetworkEngine::kFluid ? fluid_->clock_s() : sg4::Engine::get_clock();
}

// The fluid engine's clock restarts at 0: a phase's times then depend on its flows alone (the
// absolute clock of earlier phases would round its start times differently in the last bits).
void FlowNetwork::begin_phase() {
  if (engine_ == NetworkEngine::kFluid) fluid_->set_clock_s(0);
  origin_s_ = clock_s();
}

double FlowNetwork::now_s() const { return clock_s() - origin_s_; }

// A SimGrid link as a fluid link: numbered up front (register_fluid_links), or on first use.
std::uint32_t FlowNetwork::fluid_link(const sg4::Link* l) {
  auto it = fluid_link_of_.find(l);
  if (it != fluid_link_of_.end()) return it->second;
  if (!fluid_sharing(l))
    throw InputError(fmt::format("--engine fluid: link '{}' is neither shared nor a fat pipe (WIFI or "
                                 "non-linear sharing); use --engine simgrid",
                                 l->get_name()));
  // Not listed by Engine::get_all_links() (not seen on any platform so far): numbered on first use.
  return fluid_link_of_.emplace(l, fluid_->add_link(l->get_bandwidth(), l->get_sharing_policy() == sg4::Link::SharingPolicy::FATPIPE)).first->second;
}

// SimGrid's route src -> dst (composed from per-GPU pieces: fluid_routes.hpp) becomes a fluid
// route, registered once per GPU pair.
std::uint32_t FlowNetwork::fluid_route(int src, int dst) {
  std::uint32_t& id_plus_one = fluid_route_of_pair_[static_cast<std::size_t>(src) * platform_.gpus.size() + dst];
  if (id_plus_one != 0) return id_plus_one - 1;
  static thread_local std::vector<std::uint32_t> ids;  // scratch, reused across look-ups
  const double latency = fluid_routes_->route(src, dst, ids);
  const std::uint32_t id = fluid_->add_route(ids, latency);
  id_plus_one = id + 1;
  return id;
}

double FlowNetwork::route_latency_s(int src, int dst) {
  if (engine_ == NetworkEngine::kFluid) return fluid_->route_latency_s(fluid_route(src, dst));
  std::vector<sg4::Link*> links;
  return simgrid_route(platform_, src, dst, links);
}

std::vector<double> FlowNetwork::run_fluid(std::span<const Flow> flows, double issue_tolerance_s) {
  // Room for the routes this batch adds, at the length of the routes so far (the first batch:
  // kRouteLinksGuess): the tables are then not copied as they double (at 4096 GPUs, 16.7 M routes).
  std::size_t new_routes = 0;
  for (const Flow& f : flows) new_routes += fluid_route_of_pair_[static_cast<std::size_t>(f.src) * platform_.gpus.size() + f.dst] == 0;
  if (new_routes > 0) {
    constexpr std::size_t kRouteLinksGuess = 4;
    const std::size_t per_route = fluid_->routes() > 0 ? fluid_->route_links() / fluid_->routes() + 1 : kRouteLinksGuess;
    fluid_->reserve_routes(fluid_->routes() + new_routes, fluid_->route_links() + new_routes * per_route);
  }
  huge_vector<FluidMaxMin::Flow> fluid_flows(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const Flow& f = flows[i];
    // As the SimGrid path: whole bytes, at least one.
    auto bytes = static_cast<double>(whole_flow_bytes(f.bytes));
    double factor = platform_.bandwidth_factor_of_bytes ? platform_.bandwidth_factor_of_bytes(bytes) : 1.0;
    fluid_flows[i] = {fluid_route(f.src, f.dst), bytes, origin_s_ + f.start_s, factor};
  }
  // Benchmark hooks (tests/bench/scale_bench.sh): MOESIM_FLUID_FULL_SOLVE=1 re-solves every flow at
  // every event (the non-incremental solve, for comparison); MOESIM_FLUID_STATS=1 prints
  // each run's solver work to stderr.
  static const bool full_solve = std::getenv("MOESIM_FLUID_FULL_SOLVE") != nullptr;
  static const bool stats = std::getenv("MOESIM_FLUID_STATS") != nullptr;
  fluid_->set_incremental(!full_solve);
  fluid_->set_merge_relative(fluid_merge_);
  const std::uint64_t solves_before = fluid_->solves(), full_before = fluid_->full_solves();
  const std::uint64_t fixed_before = fluid_->flows_fixed(), changed_before = fluid_->rates_changed();
  auto finish = fluid_->run(std::move(fluid_flows), issue_tolerance_s);
  if (stats)
    fmt::print(stderr, "fluid run: {} flows, {} solves ({} full), {} rates set, {} changed\n", flows.size(),
               fluid_->solves() - solves_before, fluid_->full_solves() - full_before, fluid_->flows_fixed() - fixed_before,
               fluid_->rates_changed() - changed_before);
  flows_simulated_ += flows.size();
  for (double& t : finish) t -= origin_s_;
  return finish;
}

// One issuing actor per source GPU when GPUs send many messages at once (direct all-to-alls).
// SimGrid 3.32 keeps every activity an actor starts in that actor's std::list and unlinks it with
// list::remove (a full scan) when it ends: with all M flows started by maestro that is O(M) per
// completion, O(M^2) in all. Spread over N actors the lists hold <= N-1 comms each. Rounds with one
// message per GPU (pairwise, hierarchical's phases) use one issuing actor: a context per GPU costs more.
static constexpr std::size_t kMessagesPerGpuForActors = 8;

std::vector<double> FlowNetwork::run(std::span<const Flow> flows) {
  // The fluid engine issues flows as SimGrid's actors do: they wake within SimGrid's timing
  // precision of their start.
  if (engine_ == NetworkEngine::kFluid) return run_fluid(flows, fluid_issue_tolerance_s_);
  std::vector<std::size_t> order(flows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return flows[a].start_s < flows[b].start_s; });
  std::vector<sg4::CommPtr> comms(flows.size());
  auto* engine = sg4::Engine::get_instance();
  std::vector<std::vector<std::size_t>> by_source(platform_.gpus.size());
  for (std::size_t i : order) by_source.at(flows[i].src).push_back(i);
  std::size_t most = 0;
  for (const auto& v : by_source) most = std::max(most, v.size());
  auto send = [&](std::size_t i) {
    const Flow& f = flows[i];
    comms[i] = sg4::Comm::sendto_async(platform_.gpus.at(f.src), platform_.gpus.at(f.dst), whole_flow_bytes(f.bytes));
  };
  try {
    if (most >= kMessagesPerGpuForActors) {
      // Each actor starts its GPU's flows at their start times, then waits for them (an actor that
      // ends would cancel its comms).
      for (std::size_t g = 0; g < by_source.size(); ++g) {
        if (by_source[g].empty()) continue;
        sg4::Actor::create("issue-" + std::to_string(g), platform_.gpus[g], [&, g]() {
          std::vector<sg4::CommPtr> mine;
          for (std::size_t i : by_source[g]) {
            double start_abs = origin_s_ + flows[i].start_s;
            if (start_abs > sg4::Engine::get_clock()) sg4::this_actor::sleep_until(start_abs);
            send(i);
            mine.push_back(comms[i]);
          }
          sg4::Comm::wait_all(mine);
        });
      }
      engine->run();
    } else {
      // One issuing actor starts the flows in start-time order, sleeping until each start: a flow
      // starting later competes only from its start. (Launching from maestro between
      // Engine::run_until() calls started flows early: run_until returns at the last event before
      // its date without moving the clock to it when the network falls idle in between, so a flow
      // issued after it began at that earlier event — pairwise combine rounds with staggered ready
      // times ran up to 0.24 % fast against the fluid engine, which starts every flow at its date.)
      sg4::Actor::create("issue", platform_.gpus.front(), [&]() {
        for (std::size_t i : order) {
          double start_abs = origin_s_ + flows[i].start_s;
          if (start_abs > sg4::Engine::get_clock()) sg4::this_actor::sleep_until(start_abs);
          send(i);
        }
        sg4::Comm::wait_all(comms);
      });
      engine->run();
    }
  } catch (...) {
    // SimGrid prints a backtrace for every comm destroyed while in flight; the simulation process
    // is about to report the error and exit, so let them go unreleased.
    new std::vector<sg4::CommPtr>(std::move(comms));
    throw;
  }
  flows_simulated_ += flows.size();
  std::vector<double> finish(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    if (comms[i]->get_state() != sg4::Activity::State::FINISHED)
      throw std::runtime_error("SimGrid left a flow unfinished (a failed link on its route?)");
    finish[i] = comms[i]->get_finish_time() - origin_s_;
  }
  return finish;
}

// Measured: groups of 32 moved fat-tree-256 times by +14 % and did not make 1024 GPUs fit in 60 s,
// so a task holds all of its GPU's destinations.
static constexpr std::size_t kDestinationsPerTask = std::numeric_limits<std::size_t>::max();

std::vector<double> FlowNetwork::run_per_source_tasks(std::span<const Flow> flows) {
  if (engine_ == NetworkEngine::kFluid)
    throw InputError("direct-ptask is a SimGrid parallel-task algorithm: use --engine simgrid");
  if (simgrid::config::get_value<std::string>("host/model") != "ptask_L07")
    throw InputError("--algorithm direct-ptask needs SimGrid's parallel-task model: run with "
                     "MOESIM_SIMGRID_CFG=host/model:ptask_L07");
  // L07 stores a dense hosts x hosts bytes matrix per task: a GPU's destinations are cut into
  // groups of kDestinationsPerTask so that memory stays O(N^2 * group) instead of O(N^3).
  std::vector<std::vector<std::size_t>> by_source;
  {
    std::vector<std::vector<std::size_t>> per_gpu(platform_.gpus.size());
    for (std::size_t i = 0; i < flows.size(); ++i) per_gpu.at(flows[i].src).push_back(i);
    for (auto& v : per_gpu)
      for (std::size_t first = 0; first < v.size(); first += kDestinationsPerTask)
        by_source.emplace_back(v.begin() + first, v.begin() + std::min(v.size(), first + kDestinationsPerTask));
  }
  // Task of GPU s: hosts [s, its destinations...]; L07 takes a dense hosts x hosts bytes matrix, of
  // which only row 0 (s -> destination k) is non-zero.
  struct Task {
    double start_s;
    std::size_t source;
  };
  std::vector<Task> tasks;
  for (std::size_t g = 0; g < by_source.size(); ++g) {
    if (by_source[g].empty()) continue;
    double start = flows[by_source[g].front()].start_s;
    for (std::size_t i : by_source[g]) start = std::min(start, flows[i].start_s);
    tasks.push_back({start, g});
  }
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.start_s < b.start_s; });
  std::vector<sg4::ExecPtr> execs(by_source.size());
  auto* engine = sg4::Engine::get_instance();
  try {
    for (const Task& t : tasks) {
      double start_abs = origin_s_ + t.start_s;
      if (start_abs > sg4::Engine::get_clock()) engine->run_until(start_abs);
      const auto& mine = by_source[t.source];
      std::size_t hosts_n = mine.size() + 1;
      std::vector<sg4::Host*> hosts{platform_.gpus.at(flows[mine.front()].src)};
      std::vector<double> bytes(hosts_n * hosts_n, 0.0);
      for (std::size_t k = 0; k < mine.size(); ++k) {
        hosts.push_back(platform_.gpus.at(flows[mine[k]].dst));
        bytes[k + 1] = std::max(1.0, std::round(flows[mine[k]].bytes));
      }
      execs[t.source] = sg4::Exec::init()
                            ->set_hosts(hosts)
                            ->set_flops_amounts(std::vector<double>(hosts_n, 0.0))
                            ->set_bytes_amounts(bytes);
      execs[t.source]->start();
    }
    engine->run();
  } catch (...) {
    new std::vector<sg4::ExecPtr>(std::move(execs));
    throw;
  }
  flows_simulated_ += flows.size();
  std::vector<double> finish(flows.size());
  std::vector<std::size_t> task_of(flows.size());
  for (std::size_t t = 0; t < by_source.size(); ++t)
    for (std::size_t i : by_source[t]) task_of[i] = t;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const auto& e = execs[task_of[i]];
    if (e->get_state() != sg4::Activity::State::FINISHED)
      throw std::runtime_error("SimGrid left a task unfinished (a failed link on its route?)");
    finish[i] = e->get_finish_time() - origin_s_;
  }
  return finish;
}

}  // namespace moesim::sim
