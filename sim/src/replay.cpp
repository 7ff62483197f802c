#include "moesim/sim/replay.hpp"

#include <fmt/format.h>
#include <xbt/config.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "moesim/sim/flow_network.hpp"

namespace moesim::sim {

// Identical all-to-alls are common (balanced references of equal volume, repeated layers); a
// bounded cache keyed by a hash of (matrix, ready times) and checked for equality answers them.
static constexpr std::size_t kCacheBudgetDoubles = std::size_t{4} << 20;

static std::uint64_t fnv1a(const void* data, std::size_t size, std::uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

ReplayEngine::ReplayEngine(FlowNetwork& net, int gpus, ReplayOptions options)
    : net_(net), gpus_(gpus), options_(std::move(options)) {
  result_.platform = net.platform().name;
  result_.algorithm = options_.algorithm->name;
  result_.gpus = gpus;
  result_.settings.calibration = net.platform().calibration;
  options_.a2a.local_copy = net.platform().local_copy_Bps > 0;
  result_.settings.nominal_platform = net.platform().nominal;
  result_.settings.local_copy = options_.a2a.local_copy;
  result_.settings.start_offsets = options_.start_offsets.source;
  start_s_ = options_.start_offsets.resolve(gpus);
  net_.set_engine(options_.engine);
  net_.set_fluid_merge(options_.fluid_merge);
  result_.engine = to_string(net_.engine());
  result_.settings.fluid_merge = options_.fluid_merge;
  result_.settings.threads = options_.threads;
  latency_factor_ = simgrid::config::get_value<double>("network/latency-factor");
}

std::vector<double> ReplayEngine::simulate(const A2ATraffic& t, const std::vector<double>& ready_s) {
  // An all-to-all whose GPUs all start t later ends t later: key the cache on ready times relative
  // to the first start, so that a combine identical to its dispatch (uniform traffic, no compute
  // skew) is not simulated twice.
  const double first = *std::min_element(ready_s.begin(), ready_s.end());
  std::vector<double> relative(ready_s.size());
  for (std::size_t g = 0; g < ready_s.size(); ++g) relative[g] = ready_s[g] - first;
  auto shifted = [first](std::vector<double> finish) {
    for (double& f : finish) f += first;
    return finish;
  };
  std::uint64_t key = 0;
  if (options_.reuse_identical) {
    key = fnv1a(t.gpu.bytes.data(), t.gpu.bytes.size() * sizeof(double));
    key = fnv1a(t.node_once.bytes.data(), t.node_once.bytes.size() * sizeof(double), key);
    key = fnv1a(&t.combine, sizeof t.combine, key);
    key = fnv1a(relative.data(), relative.size() * sizeof(double), key);
    for (const auto& [k, entry] : cache_)
      if (k == key && entry.ready_s == relative && entry.t == t) {
        ++result_.a2a_reused;
        return shifted(entry.finish_s);
      }
  }
  net_.begin_phase();
  std::uint64_t before = net_.flows_simulated();
  auto finish = options_.algorithm->run(t, relative, net_, options_.a2a);
  result_.flows_simulated += net_.flows_simulated() - before;
  ++result_.a2a_simulated;
  if (options_.reuse_identical) {
    const std::size_t doubles = t.gpu.bytes.size() + t.node_once.bytes.size();
    std::size_t max_entries = std::max<std::size_t>(1, kCacheBudgetDoubles / std::max<std::size_t>(1, doubles));
    if (cache_.size() >= max_entries) cache_.erase(cache_.begin());
    cache_.push_back({key, CacheEntry{t, relative, finish}});
  }
  return shifted(std::move(finish));
}

TrafficMatrix ReplayEngine::wire_bytes(const A2ATraffic& t) const {
  if (!options_.algorithm->wire_bytes) return t.gpu;
  return options_.algorithm->wire_bytes(t, NodeLayout{std::max(1, net_.platform().gpus_per_node)});
}

// One-way latency of the route src -> dst as SimGrid sees it (links' latencies × the latency factor),
// looked up once per GPU pair and remembered.
double ReplayEngine::route_latency_s(int src, int dst) {
  if (latency_s_.empty()) latency_s_.assign(static_cast<std::size_t>(gpus_) * gpus_, -1.0f);
  float& cached = latency_s_[static_cast<std::size_t>(src) * gpus_ + dst];
  if (cached < 0) {
    cached = static_cast<float>(net_.route_latency_s(src, dst) * latency_factor_);
  }
  return cached;
}

// Per GPU g, a time before which no schedule on this platform can have g done with the all-to-all m
// when GPU o may start at ready_s[o] (a flow pays its route latency, then shares bandwidth):
//   sending:   ready_g + launch + min latency to its destinations + max(out / egress, out across nodes / NIC)
//   receiving: earliest ready among its sources + launch + min latency from them + max(in / ingress, in across nodes / NIC)
// and at least ready_g + launch. A GPU may receive before its own start (its peers send when they
// are ready), hence the sources' ready times on the receiving side.
std::vector<double> ReplayEngine::done_lower_bounds_s(const TrafficMatrix& m, const std::vector<double>& ready_s) {
  const auto& p = net_.platform();
  const double launch_s = options_.a2a.launch_latency_s;
  std::vector<double> done_s(static_cast<std::size_t>(gpus_));
  for (int g = 0; g < gpus_; ++g) {
    double out = 0, in = 0, out_inter = 0, in_inter = 0;
    double send_latency_s = INFINITY, receive_latency_s = INFINITY, first_source_ready_s = INFINITY;
    for (int o = 0; o < gpus_; ++o) {
      if (o == g) continue;
      double to = m.at(g, o), from = m.at(o, g);
      bool inter = p.node_of_gpu[g] != p.node_of_gpu[o];
      if (to > 0) {
        out += to;
        if (inter) out_inter += to;
        send_latency_s = std::min(send_latency_s, route_latency_s(g, o));
      }
      if (from > 0) {
        in += from;
        if (inter) in_inter += from;
        receive_latency_s = std::min(receive_latency_s, route_latency_s(o, g));
        first_source_ready_s = std::min(first_source_ready_s, ready_s[o]);
      }
    }
    const double nic_Bps = p.scaleout_egress_Bps[g];
    double done = ready_s[g] + launch_s;
    if (out > 0) {
      double t = out / p.egress_Bps[g];
      if (nic_Bps > 0) t = std::max(t, out_inter / nic_Bps);
      done = std::max(done, ready_s[g] + launch_s + send_latency_s + t);
    }
    if (in > 0) {
      double t = in / p.ingress_Bps[g];
      if (nic_Bps > 0) t = std::max(t, in_inter / nic_Bps);
      done = std::max(done, first_source_ready_s + launch_s + receive_latency_s + t);
    }
    // The local copy (node.local_copy_bandwidth) runs on the GPU's copy link from its own start; with
    // node.duplex_bandwidth everything the GPU sends, receives and copies shares one cap, from the
    // earlier of its own start and its first source's.
    const double diagonal = options_.a2a.local_copy ? m.at(g, g) : 0.0;
    if (diagonal > 0) done = std::max(done, ready_s[g] + launch_s + diagonal / p.local_copy_Bps);
    if (p.duplex_Bps > 0 && out + in + diagonal > 0)
      done = std::max(done, std::min(ready_s[g], first_source_ready_s) + launch_s + (out + in + diagonal) / p.duplex_Bps);
    done_s[static_cast<std::size_t>(g)] = done;
  }
  return done_s;
}

namespace {

// Every GPU whose finish is within kSameInstant relative of the last one straggles: flows that end
// together mathematically end a few ulps apart.
constexpr double kSameInstant = 1e-9;

struct Straggler {
  int gpu = -1;
  bool receives = false;
  int count = 0;  // GPUs in the straggler set
};

// Among the GPUs that finish last, the one with the most bytes on its binding side (what it receives
// when bytes in / ingress >= bytes out / egress, else what it sends): the GPU the all-to-all waits for.
Straggler find_straggler(const std::vector<double>& finish_s, const std::vector<double>& in,
                         const std::vector<double>& out, const topologies::SimgridPlatform& p) {
  const double last = *std::max_element(finish_s.begin(), finish_s.end());
  Straggler s;
  double most_bytes = -1;
  for (std::size_t g = 0; g < finish_s.size(); ++g) {
    if (finish_s[g] < last - kSameInstant * std::abs(last)) continue;
    ++s.count;
    bool receives = in[g] / p.ingress_Bps[g] >= out[g] / p.egress_Bps[g];
    double bytes = receives ? in[g] : out[g];
    if (bytes > most_bytes) most_bytes = bytes, s.gpu = static_cast<int>(g), s.receives = receives;
  }
  return s;
}

double max_of(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

A2ATraffic combine_traffic(const LayerWork& w) { return A2ATraffic(w.combine, w.combine_node_once, true); }

}  // namespace

double ReplayEngine::first_start_s() const {
  return start_s_.empty() ? 0.0 : *std::min_element(start_s_.begin(), start_s_.end());
}

// Bytes, straggler side and bound are those of what the algorithm puts on the wire (deepep: each
// token once per node, forwarded inside it), not of the GPU × GPU token copies.
A2ARow ReplayEngine::summarize(const LayerWork& w, Phase phase, const A2ATraffic& t,
                               const std::vector<double>& ready_s, const std::vector<double>& finish_s,
                               std::vector<double>& done_lb_s) {
  const TrafficMatrix m = wire_bytes(t);
  A2ARow row;
  row.step = w.step;
  row.layer = w.layer;
  row.phase = static_cast<std::int32_t>(phase);
  auto out = m.bytes_out(), in = m.bytes_in();
  // The all-to-all's time: the largest per-GPU phase time (each GPU from its own start).
  for (int g = 0; g < gpus_; ++g) row.time_s = std::max(row.time_s, finish_s[g] - ready_s[g]);
  Straggler straggler = find_straggler(finish_s, in, out, net_.platform());
  row.straggler_gpu = straggler.gpu;
  row.straggler_receives = straggler.receives;
  row.stragglers = straggler.count;
  if (static_cast<int>(w.experts_by_gpu.size()) > straggler.gpu) {
    auto experts = w.experts_by_gpu[straggler.gpu];
    std::stable_sort(experts.begin(), experts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (int i = 0; i < kTopExperts && i < static_cast<int>(experts.size()); ++i) {
      row.top_expert[i] = experts[i].first;
      row.top_expert_tokens[i] = experts[i].second;
    }
  }
  row.network_bytes = m.network_bytes();
  row.max_bytes_in = max_of(in);
  row.max_bytes_out = max_of(out);
  done_lb_s = done_lower_bounds_s(m, ready_s);
  for (int g = 0; g < gpus_; ++g) row.bound_s = std::max(row.bound_s, done_lb_s[g] - ready_s[g]);
  if (options_.balanced_reference) {
    std::vector<double> zero(gpus_, 0.0);
    row.balanced_s = max_of(simulate(
        balanced_like(t, NodeLayout{std::max(1, net_.platform().gpus_per_node)}, options_.a2a.local_copy), zero));
  }
  for (int g = 0; g < gpus_; ++g)
    result_.gpu_rows.push_back({w.step, w.layer, row.phase, g, ready_s[g], finish_s[g], out[g], in[g]});
  return row;
}

// The layer: first dispatch start -> last combine finish. Its bound chains the per-GPU bounds
// (dispatch, then compute, then combine); its balanced reference is the balanced dispatch, the
// compute spread evenly, and the balanced combine.
LayerRow ReplayEngine::summarize_layer(const LayerWork& w, const A2ARow& dispatch, const A2ARow& combine,
                                       std::vector<double> dispatch_done_lb_s,
                                       const std::vector<double>& combine_finish_s) {
  LayerRow row;
  row.step = w.step;
  row.layer = w.layer;
  row.time_s = max_of(combine_finish_s) - first_start_s();
  std::vector<double> compute_s(static_cast<std::size_t>(gpus_), 0.0);
  for (int g = 0; g < gpus_ && g < static_cast<int>(w.compute_s.size()); ++g) compute_s[g] = w.compute_s[g];
  row.compute_max_s = max_of(compute_s);
  std::vector<double>& combine_ready_lb = dispatch_done_lb_s;  // the dispatch's bounds (from each GPU's start) + compute
  for (int g = 0; g < gpus_; ++g) combine_ready_lb[g] += compute_s[g];
  row.bound_s = max_of(done_lower_bounds_s(wire_bytes(combine_traffic(w)), combine_ready_lb)) - first_start_s();
  if (options_.balanced_reference) {
    double mean_compute_s = std::accumulate(compute_s.begin(), compute_s.end(), 0.0) / gpus_;
    row.balanced_s = dispatch.balanced_s + mean_compute_s + combine.balanced_s;
  }
  return row;
}

void ReplayEngine::replay_layer(const LayerWork& w) {
  if (w.dispatch.gpus != gpus_ || w.combine.gpus != gpus_)
    throw std::logic_error("replay_layer: matrix size differs from the expert-parallel degree");
  // Each GPU starts its dispatch at its start offset (--start-offsets; 0 = all together).
  std::vector<double> ready = start_s_;
  const A2ATraffic dispatch_traffic(w.dispatch, w.dispatch_node_once, false);
  auto dispatch_done = simulate(dispatch_traffic, ready);
  std::vector<double> dispatch_done_lb, combine_done_lb;
  A2ARow dispatch = summarize(w, Phase::kDispatch, dispatch_traffic, ready, dispatch_done, dispatch_done_lb);

  // Each GPU starts its combine when its dispatch is done and its experts have computed.
  std::vector<double> combine_ready = dispatch_done;
  for (int g = 0; g < gpus_ && g < static_cast<int>(w.compute_s.size()); ++g) combine_ready[g] += w.compute_s[g];
  const A2ATraffic combine = combine_traffic(w);
  auto combine_done = simulate(combine, combine_ready);
  A2ARow combine_row = summarize(w, Phase::kCombine, combine, combine_ready, combine_done, combine_done_lb);
  result_.layer_rows.push_back(summarize_layer(w, dispatch, combine_row, std::move(dispatch_done_lb), combine_done));
  result_.a2a_rows.push_back(dispatch);
  result_.a2a_rows.push_back(combine_row);
  result_.dispatch_bytes_total += w.dispatch.total_bytes();
  if (options_.keep_matrices) {
    result_.dispatch_matrices.insert(result_.dispatch_matrices.end(), w.dispatch.bytes.begin(), w.dispatch.bytes.end());
    result_.combine_matrices.insert(result_.combine_matrices.end(), w.combine.bytes.begin(), w.combine.bytes.end());
  }
}

}  // namespace moesim::sim
