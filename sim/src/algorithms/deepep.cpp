// DeepEP's normal (high-throughput) dispatch and combine, the V1 kernels of deepseek-ai/DeepEP
// (csrc/kernels/legacy/internode.cu, docs/legacy.md). Inside a node a token goes over NVLink straight
// to every GPU holding one of its experts. To another node it goes once over RDMA, to the GPU of that
// node on the source's rail (same local index), which forwards it over NVLink to each GPU of its node
// holding one of the token's experts (itself included, without a copy):
//
//   node A: GPU(A,i) ──RDMA, once per token and node──> GPU(B,i) ──NVLink──> GPU(B,j), GPU(B,k)
//
// The combine is the reverse: GPU(B,j) sends its partial result for the token over NVLink to GPU(B,i),
// which adds the partials of its node and sends one result per token back over RDMA.
//
// The stages overlap, as in DeepEP: RDMA senders, forwarders and NVLink receivers are warps of one
// kernel (internode.cu, `WarpRole`: kRDMASender, kRDMAAndNVLForwarder, kNVLReceivers) handing tokens
// over in chunks through ring buffers. Modelled as one set of flows launched together: a second-stage
// flow (dispatch: forward; combine: RDMA) starts one chunk after the first-stage flows feeding it
// start (dispatch: the first of them, a chunk can be forwarded as soon as it lands; combine: the last
// of them, a token is reduced once all its partials are in), and is not done before the last flow
// feeding it has ended + one chunk on its own route. Max-min shares the links meanwhile; a forward
// may get bandwidth a little before its data could have arrived (the fluid view of a pipeline).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "moesim/common/error.hpp"
#include "moesim/sim/algorithm.hpp"

namespace moesim::sim {

namespace {

// A chunk handed from one stage to the next: 16 tokens (DeepEP's test Config: RDMA chunk 16 tokens,
// tests/legacy/test_internode.py) of 7168 FP8 values + 56 scales ≈ 118 KB; 128 KiB here.
constexpr double kChunkBytes = 128.0 * 1024;

struct Stages {
  std::vector<Message> first;   // dispatch: NVLink in the node + RDMA; combine: NVLink in the node + gather to the rail GPU
  std::vector<Message> second;  // dispatch: NVLink forwards from the rail GPU; combine: RDMA from the rail GPU
  // Per second-stage message, the first-stage messages (indices into `first`) whose tokens it carries.
  std::vector<std::vector<std::size_t>> feeders;
};

NodeLayout layout_of(const FlowNetwork& net, int gpus) {
  NodeLayout nodes{std::max(1, net.platform().gpus_per_node)};
  if (gpus % nodes.gpus_per_node != 0)
    throw InputError(fmt::format("deepep: {} GPUs do not fill whole nodes of {} GPUs (every GPU needs its rail peer "
                                 "in each node)",
                                 gpus, nodes.gpus_per_node));
  return nodes;
}

// Bytes the rail GPU r forwards to GPU d of its node (dispatch), or d sends to r to be reduced
// (combine, with `gpu` given as the combine's matrix): every token of a GPU s of another node on
// r's rail that has an expert on d. The per-token width is the same on both hops.
TrafficMatrix forward_bytes(const A2ATraffic& t, const NodeLayout& nodes) {
  const TrafficMatrix& m = t.gpu;
  const int n = m.gpus;
  auto fwd = TrafficMatrix::zeros(n);
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d) {
      if (nodes.node_of(s) == nodes.node_of(d)) continue;
      // dispatch: s (token) -> r -> d (expert); combine: s (expert) -> r -> d (token), r on d's rail in s's node
      const double bytes = m.at(s, d);
      if (bytes <= 0) continue;
      if (!t.combine) {
        const int r = nodes.rail_peer(s, nodes.node_of(d));
        if (r != d) fwd.at(r, d) += bytes;
      } else {
        const int r = nodes.rail_peer(d, nodes.node_of(s));
        if (r != s) fwd.at(s, r) += bytes;
      }
    }
  return fwd;
}

// NVLink traffic inside each node, with the diagonal (each GPU's copy to itself: moved only on a
// platform with node.local_copy_bandwidth, where neighbour_order_messages issues it first).
TrafficMatrix intra_node_bytes(const TrafficMatrix& m, const NodeLayout& nodes) {
  auto out = TrafficMatrix::zeros(m.gpus);
  for (int s = 0; s < m.gpus; ++s)
    for (int d = 0; d < m.gpus; ++d)
      if (nodes.node_of(s) == nodes.node_of(d)) out.at(s, d) = m.at(s, d);
  return out;
}

TrafficMatrix wire_bytes(const A2ATraffic& t, const NodeLayout& nodes) {
  if (!t.has_node_once()) throw InputError("deepep needs token-level routing (a trace), not a plain GPU matrix");
  auto wire = intra_node_bytes(t.gpu, nodes);
  auto fwd = forward_bytes(t, nodes);
  for (std::size_t i = 0; i < wire.bytes.size(); ++i) wire.bytes[i] += fwd.bytes[i] + t.node_once.bytes[i];
  return wire;
}

// Messages in the order their source issues them: the node's own NVLink traffic, then the first
// cross-node stage, then the second (each right neighbour first). The second stage's feeders:
// dispatch, forward r -> d is fed by the RDMA flows s -> r carrying tokens with an expert on d;
// combine, RDMA r -> d by the gathers s -> r carrying partials of d's tokens.
Stages build_stages(const A2ATraffic& t, const NodeLayout& nodes, const A2AOptions& options) {
  const auto fwd = forward_bytes(t, nodes);
  const TrafficMatrix& cross_first = t.combine ? fwd : t.node_once;
  const TrafficMatrix& cross_second = t.combine ? t.node_once : fwd;
  Stages st{neighbour_order_messages(intra_node_bytes(t.gpu, nodes), options), neighbour_order_messages(cross_second, options), {}};
  const std::size_t intra_count = st.first.size();
  for (const Message& m : neighbour_order_messages(cross_first, options)) st.first.push_back(m);

  std::vector<std::vector<std::size_t>> into(t.gpu.gpus);  // first cross-node stage, by receiving GPU
  for (std::size_t i = intra_count; i < st.first.size(); ++i) into[st.first[i].dst].push_back(i);
  for (const Message& m : st.second) {
    std::vector<std::size_t> feeders;
    for (std::size_t i : into[m.src])
      if (t.gpu.at(st.first[i].src, m.dst) > 0) feeders.push_back(i);
    st.feeders.push_back(std::move(feeders));
  }
  return st;
}

// One chunk of a message on its route: the route's latency + min(chunk, message) at `rate_Bps`.
double chunk_s(FlowNetwork& net, const Message& m, double rate_Bps) {
  return net.route_latency_s(m.src, m.dst) + std::min(kChunkBytes, m.bytes) / rate_Bps;
}

// The link that paces a chunk on a hop: across nodes the source's NIC, inside a node its NVLinks.
double hop_rate_Bps(const FlowNetwork& net, const NodeLayout& nodes, const Message& m) {
  const auto& p = net.platform();
  return nodes.node_of(m.src) != nodes.node_of(m.dst) ? p.scaleout_egress_Bps[m.src] : p.intra_node_egress_Bps[m.src];
}

// When second-stage message k may start: one chunk after its feeders start (dispatch: the first
// feeder, a chunk is forwarded as soon as it lands; combine: the last, a token is reduced once all
// its partials are in), and not before its own GPU has started.
double second_stage_start_s(const Stages& st, std::size_t k, std::span<const Flow> first_flows, bool combine,
                            std::span<const double> ready_s, FlowNetwork& net, const NodeLayout& nodes,
                            const A2AOptions& options) {
  double fed_s = st.feeders[k].empty() ? 0.0 : (combine ? 0.0 : INFINITY);
  for (std::size_t i : st.feeders[k]) {
    const Message& feeder = st.first[i];
    const double first_chunk_s = first_flows[i].start_s + chunk_s(net, feeder, hop_rate_Bps(net, nodes, feeder));
    fed_s = combine ? std::max(fed_s, first_chunk_s) : std::min(fed_s, first_chunk_s);
  }
  return std::max(ready_s[st.second[k].src] + options.launch_latency_s, fed_s);
}

std::vector<double> run_deepep(const A2ATraffic& t, std::span<const double> ready_s, FlowNetwork& net,
                               const A2AOptions& options) {
  if (!t.has_node_once())
    throw InputError("--algorithm deepep needs token-level routing (--trace): a GPU × GPU matrix does not say which "
                     "tokens share a destination node");
  const NodeLayout nodes = layout_of(net, t.gpu.gpus);
  const Stages st = build_stages(t, nodes, options);

  // First stage as any phase; the second continues each GPU's message count (per-message overheads).
  std::vector<Flow> flows = phase_flows(st.first, ready_s, 0.0, options);
  std::vector<int> issued(ready_s.size(), 0);
  for (const Message& m : st.first) ++issued[m.src];
  const std::size_t first_count = flows.size();
  for (std::size_t k = 0; k < st.second.size(); ++k) {
    const Message& m = st.second[k];
    const double start_s = second_stage_start_s(st, k, std::span(flows).first(first_count), t.combine, ready_s, net,
                                                nodes, options);
    flows.push_back({m.src, m.dst, m.bytes, start_s + ++issued[m.src] * options.per_message_overhead_s});
  }

  std::vector<double> end_s = flows.empty() ? std::vector<double>{} : net.run(flows);
  for (std::size_t k = 0; k < st.second.size(); ++k) {  // its last chunk follows its last feeder's end
    const double last_chunk_s = chunk_s(net, st.second[k], hop_rate_Bps(net, nodes, st.second[k]));
    for (std::size_t i : st.feeders[k]) end_s[first_count + k] = std::max(end_s[first_count + k], end_s[i] + last_chunk_s);
  }
  auto finish_s = initial_finish_times(ready_s, options);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    finish_s[flows[i].src] = std::max(finish_s[flows[i].src], end_s[i]);
    finish_s[flows[i].dst] = std::max(finish_s[flows[i].dst], end_s[i]);
  }
  return finish_s;
}

}  // namespace

const A2AAlgorithm& deepep_algorithm() {
  static const A2AAlgorithm a{"deepep",
                              "DeepEP normal kernels: NVLink in the node; across nodes once per token and node over "
                              "RDMA to the rail GPU, which forwards over NVLink (combine reduces there); needs a trace",
                              &run_deepep, true, &wire_bytes};
  return a;
}

}  // namespace moesim::sim
