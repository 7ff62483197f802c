#pragma once
// An all-to-all algorithm turns what an all-to-all moves (A2ATraffic: a GPU × GPU matrix, plus the
// once-per-node matrix when token-level routing is known) into flows on the platform and says when
// each GPU is done. One algorithm per file in src/algorithms/, each registered here by name with a
// one-line description (`moesim replay --help` lists them).
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "moesim/sim/flow_network.hpp"
#include "moesim/sim/node_layout.hpp"
#include "moesim/sim/traffic_matrix.hpp"

namespace moesim::sim {

// What one all-to-all moves. `gpu` is all most algorithms read. `node_once` exists only when the
// input was token-level routing (a trace): the bytes from each GPU to its rail peer in every other
// node when a token crosses to a node once, however many GPUs there hold its experts (DeepEP's RDMA
// stage; layer_traffic.hpp). A combine carries both reversed (`combine`): GPU d sends a token's
// partial result to the rail GPU of d's node, which reduces and sends one result per token back.
struct A2ATraffic {
  A2ATraffic() = default;
  // A plain matrix is traffic without token routing (matrix input, the balanced reference, tests).
  A2ATraffic(TrafficMatrix gpu_bytes) : gpu(std::move(gpu_bytes)) {}  // NOLINT(google-explicit-constructor)
  // The direction matters only to the once-per-node stage: without it a combine is a plain matrix,
  // so that one identical to its dispatch is recognised as such (ReplayEngine's reuse).
  A2ATraffic(TrafficMatrix gpu_bytes, TrafficMatrix node_once_bytes, bool is_combine)
      : gpu(std::move(gpu_bytes)), node_once(std::move(node_once_bytes)), combine(is_combine && node_once.gpus > 0) {}

  TrafficMatrix gpu;        // bytes, rows = source GPU; the diagonal stays local
  TrafficMatrix node_once;  // bytes, rows = source GPU; gpus = 0 when unknown
  bool combine = false;     // only with node_once

  bool has_node_once() const { return node_once.gpus > 0; }
  bool operator==(const A2ATraffic&) const = default;
};

struct A2AOptions {
  double launch_latency_s = 0;         // kernel launch / collective setup, once per all-to-all
  double per_message_overhead_s = 0;   // software cost of issuing one message; a GPU issues its messages one after another
  // The platform moves the diagonal (node.local_copy_bandwidth): each GPU's bytes to itself are a
  // message on its self route, issued first, as NCCL's p2p schedule does (src/init.cc: the peer of
  // round 0 is the rank itself). Set from the platform by the replay engine, not by users.
  bool local_copy = false;
};

// ready_s[g]: when GPU g may start sending (phase-relative). Returns, per GPU, when it has sent and
// received everything (phase-relative); a GPU with no traffic is done at ready_s[g] + launch latency.
using A2AFunction = std::vector<double> (*)(const A2ATraffic& t, std::span<const double> ready_s, FlowNetwork& net,
                                            const A2AOptions& options);
// The bytes the algorithm puts on each GPU pair's route (every hop of a relayed token counted), for
// the bound and the per-GPU bytes of the summary.
using WireFunction = TrafficMatrix (*)(const A2ATraffic& t, const NodeLayout& nodes);

struct A2AAlgorithm {
  std::string name;
  std::string description;
  A2AFunction run;
  // Needs A2ATraffic::node_once (token-level routing): a plain matrix input is refused.
  bool needs_token_routing = false;
  // nullptr: the algorithm moves no fewer bytes between any two nodes than t.gpu says, so t.gpu is a
  // valid basis for the bound. Set by algorithms that deduplicate (deepep).
  WireFunction wire_bytes = nullptr;
};

const A2AAlgorithm& direct_algorithm();        // algorithms/direct.cpp
const A2AAlgorithm& pairwise_algorithm();      // algorithms/pairwise.cpp
const A2AAlgorithm& hierarchical_algorithm();  // algorithms/hierarchical.cpp
const A2AAlgorithm& direct_ptask_algorithm();  // algorithms/direct.cpp
const A2AAlgorithm& deepep_algorithm();        // algorithms/deepep.cpp

const std::vector<A2AAlgorithm>& all_algorithms();
// Throws InputError listing the known names.
const A2AAlgorithm& find_algorithm(const std::string& name);

// The same bytes spread evenly (the balanced reference): `gpu` over all ordered GPU pairs, `node_once`
// over all pairs of a GPU and its rail peer in another node.
A2ATraffic balanced_like(const A2ATraffic& t, const NodeLayout& nodes, bool including_diagonal = false);

// --- shared by the algorithms (algorithm.cpp) ---------------------------------------------------

// One message of a phase, listed in the order its source GPU issues it.
struct Message {
  int src = 0, dst = 0;
  double bytes = 0;
};

// The flows of one phase: GPU s may start at max(ready_s[s] + launch latency, not_before_s) and
// issues its messages one after another, the k-th (k = 1, 2, ...) entering the wire k per-message
// overheads later.
std::vector<Flow> phase_flows(std::span<const Message> messages, std::span<const double> ready_s, double not_before_s,
                              const A2AOptions& options);

// Before any phase: a GPU with nothing to send or receive is done at its ready time + launch latency.
std::vector<double> initial_finish_times(std::span<const double> ready_s, const A2AOptions& options);

// Runs one phase's messages on the network and folds their finish times into `finish_s` (a GPU is
// done when every flow it sends or receives has ended). Returns the phase's last flow finish, or
// not_before_s when it had no message: the barrier for a next phase.
double run_phase(std::span<const Message> messages, std::span<const double> ready_s, double not_before_s,
                 FlowNetwork& net, const A2AOptions& options, std::vector<double>& finish_s);
// The same, freeing the messages once they are flows (a direct all-to-all's are N(N-1)).
double run_phase(std::vector<Message>&& messages, std::span<const double> ready_s, double not_before_s,
                 FlowNetwork& net, const A2AOptions& options, std::vector<double>& finish_s);
// Runs flows already made and folds their finish times into `finish_s`; returns the last finish.
double run_flows(std::span<const Flow> flows, double not_before_s, FlowNetwork& net, std::vector<double>& finish_s);

// Each source's messages to its peers, its right neighbour first (s+1, s+2, ... mod N), so that GPUs
// do not all begin with the same destination; empty entries are skipped. With options.local_copy the
// copy to itself (s -> s) comes first.
std::vector<Message> neighbour_order_messages(const TrafficMatrix& m, const A2AOptions& options);

}  // namespace moesim::sim
