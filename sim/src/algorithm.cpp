#include "moesim/sim/algorithm.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "moesim/common/error.hpp"

namespace moesim::sim {

const std::vector<A2AAlgorithm>& all_algorithms() {
  static const std::vector<A2AAlgorithm> algorithms = {direct_algorithm(), pairwise_algorithm(),
                                                        hierarchical_algorithm(), direct_ptask_algorithm(),
                                                        deepep_algorithm()};
  return algorithms;
}

const A2AAlgorithm& find_algorithm(const std::string& name) {
  std::string known;
  for (const auto& a : all_algorithms()) {
    if (a.name == name) return a;
    known += (known.empty() ? "" : ", ") + a.name;
  }
  throw InputError(fmt::format("unknown all-to-all algorithm '{}' (known: {})", name, known));
}

A2ATraffic balanced_like(const A2ATraffic& t, const NodeLayout& nodes, bool including_diagonal) {
  A2ATraffic out(balanced_like(t.gpu, including_diagonal));
  out.combine = t.combine;
  if (!t.has_node_once()) return out;
  const int n = t.node_once.gpus, node_count = n / nodes.gpus_per_node;
  out.node_once = TrafficMatrix::zeros(n);
  const double rail_pairs = static_cast<double>(n) * (node_count - 1);
  if (rail_pairs <= 0) return out;
  const double each = t.node_once.network_bytes() / rail_pairs;
  for (int s = 0; s < n; ++s)
    for (int node = 0; node < node_count; ++node)
      if (node != nodes.node_of(s)) out.node_once.at(s, nodes.rail_peer(s, node)) = each;
  return out;
}

std::vector<Flow> phase_flows(std::span<const Message> messages, std::span<const double> ready_s, double not_before_s,
                              const A2AOptions& options) {
  std::vector<int> issued(ready_s.size(), 0);
  std::vector<Flow> flows;
  flows.reserve(messages.size());
  for (const Message& msg : messages) {
    double start_s = std::max(not_before_s, ready_s[msg.src] + options.launch_latency_s);
    int k = ++issued[msg.src];
    flows.push_back({msg.src, msg.dst, msg.bytes, start_s + k * options.per_message_overhead_s});
  }
  return flows;
}

std::vector<double> initial_finish_times(std::span<const double> ready_s, const A2AOptions& options) {
  std::vector<double> finish(ready_s.begin(), ready_s.end());
  for (double& f : finish) f += options.launch_latency_s;
  return finish;
}

double run_phase(std::span<const Message> messages, std::span<const double> ready_s, double not_before_s,
                 FlowNetwork& net, const A2AOptions& options, std::vector<double>& finish_s) {
  if (messages.empty()) return not_before_s;
  return run_flows(phase_flows(messages, ready_s, not_before_s, options), not_before_s, net, finish_s);
}

double run_phase(std::vector<Message>&& messages, std::span<const double> ready_s, double not_before_s,
                 FlowNetwork& net, const A2AOptions& options, std::vector<double>& finish_s) {
  if (messages.empty()) return not_before_s;
  auto flows = phase_flows(messages, ready_s, not_before_s, options);
  std::vector<Message>().swap(messages);  // the flows say it all now: 16 bytes a pair back before the run
  return run_flows(flows, not_before_s, net, finish_s);
}

double run_flows(std::span<const Flow> flows, double not_before_s, FlowNetwork& net, std::vector<double>& finish_s) {
  auto end_s = net.run(flows);
  double last_s = not_before_s;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    finish_s[flows[i].src] = std::max(finish_s[flows[i].src], end_s[i]);
    finish_s[flows[i].dst] = std::max(finish_s[flows[i].dst], end_s[i]);
    last_s = std::max(last_s, end_s[i]);
  }
  return last_s;
}

std::vector<Message> neighbour_order_messages(const TrafficMatrix& m, const A2AOptions& options) {
  const int n = m.gpus;
  std::size_t count = 0;  // reserved exactly: at 4096 GPUs the vector is 268 MB, doubling copies it
  for (int s = 0; s < n; ++s)
    for (int k = options.local_copy ? 0 : 1; k < n; ++k) count += m.at(s, (s + k) % n) > 0 ? 1 : 0;
  std::vector<Message> messages;
  messages.reserve(count);
  for (int s = 0; s < n; ++s)
    for (int k = options.local_copy ? 0 : 1; k < n; ++k) {
      int d = (s + k) % n;
      if (m.at(s, d) > 0) messages.push_back({s, d, m.at(s, d)});
    }
  return messages;
}

}  // namespace moesim::sim
