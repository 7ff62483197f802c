#include "moesim/sim/flow_network.hpp"

#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Engine.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace moesim::sim {
namespace sg4 = simgrid::s4u;

FlowNetwork::FlowNetwork(topologies::SimgridPlatform platform) : platform_(std::move(platform)) {
  begin_phase();
}

void FlowNetwork::begin_phase() { origin_s_ = sg4::Engine::get_clock(); }

double FlowNetwork::now_s() const { return sg4::Engine::get_clock() - origin_s_; }

std::vector<double> FlowNetwork::run(std::span<const Flow> flows) {
  // Launch in start-time order; between two start times the engine runs (run_until), so that a flow
  // starting later competes only from its start. Flows are launched from maestro: in SimGrid 3.32 an
  // actor per flow costs a context each and exceeds vm.max_map_count beyond ~32k flows.
  std::vector<std::size_t> order(flows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return flows[a].start_s < flows[b].start_s; });
  std::vector<sg4::CommPtr> comms(flows.size());
  auto* engine = sg4::Engine::get_instance();
  for (std::size_t i : order) {
    const Flow& f = flows[i];
    double start_abs = origin_s_ + f.start_s;
    if (start_abs > sg4::Engine::get_clock()) engine->run_until(start_abs);
    auto bytes = static_cast<std::uint64_t>(std::llround(f.bytes));
    comms[i] = sg4::Comm::sendto_async(platform_.gpus.at(f.src), platform_.gpus.at(f.dst), std::max<std::uint64_t>(bytes, 1));
  }
  engine->run();
  flows_simulated_ += flows.size();
  std::vector<double> finish(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    if (comms[i]->get_state() != sg4::Activity::State::FINISHED)
      throw std::runtime_error("SimGrid left a flow unfinished (a failed link on its route?)");
    finish[i] = comms[i]->get_finish_time() - origin_s_;
  }
  return finish;
}

}  // namespace moesim::sim
