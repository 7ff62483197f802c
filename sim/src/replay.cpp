#include "moesim/sim/replay.hpp"

#include <fmt/format.h>
#include <xbt/config.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Host.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/common/isolated.hpp"
#include "moesim/sim/simulation.hpp"

namespace moesim::sim {

const char* to_string(Phase p) { return p == Phase::kDispatch ? "dispatch" : "combine"; }

// Identical all-to-alls are common (balanced references of equal volume, repeated layers); a
// bounded cache keyed by a hash of (matrix, ready times) and checked for equality answers them.
static constexpr std::size_t kCacheBudgetDoubles = std::size_t{4} << 20;

static std::uint64_t fnv1a(const void* data, std::size_t size, std::uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

ReplayEngine::ReplayEngine(FlowNetwork& net, int gpus, ReplayOptions options)
    : net_(net), gpus_(gpus), options_(std::move(options)), algorithm_(find_algorithm(options_.algorithm)) {
  result_.platform = net.platform().name;
  result_.algorithm = algorithm_.name;
  result_.gpus = gpus;
  net_.set_engine(parse_network_engine(options_.engine));
  result_.engine = to_string(net_.engine());
}

std::vector<double> ReplayEngine::simulate(const TrafficMatrix& m, const std::vector<double>& ready_s) {
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
    key = fnv1a(m.bytes.data(), m.bytes.size() * sizeof(double));
    key = fnv1a(relative.data(), relative.size() * sizeof(double), key);
    for (const auto& [k, entry] : cache_)
      if (k == key && entry.ready_s == relative && entry.m == m) {
        ++result_.a2a_reused;
        return shifted(entry.finish_s);
      }
  }
  net_.begin_phase();
  std::uint64_t before = net_.flows_simulated();
  auto finish = algorithm_.run(m, relative, net_, options_.a2a);
  result_.flows_simulated += net_.flows_simulated() - before;
  ++result_.a2a_simulated;
  if (options_.reuse_identical) {
    std::size_t max_entries = std::max<std::size_t>(1, kCacheBudgetDoubles / std::max<std::size_t>(1, m.bytes.size()));
    if (cache_.size() >= max_entries) cache_.erase(cache_.begin());
    cache_.push_back({key, CacheEntry{m, relative, finish}});
  }
  return shifted(std::move(finish));
}

// One-way latency of the route src -> dst as SimGrid sees it (links' latencies × the latency factor),
// looked up once per GPU pair and remembered.
double ReplayEngine::route_latency_s(int src, int dst) {
  if (latency_s_.empty()) {
    latency_s_.assign(static_cast<std::size_t>(gpus_) * gpus_, -1.0f);
    latency_factor_ = simgrid::config::get_value<double>("network/latency-factor");
  }
  float& cached = latency_s_[static_cast<std::size_t>(src) * gpus_ + dst];
  if (cached < 0) {
    cached = static_cast<float>(net_.route_latency_s(src, dst) * latency_factor_);
  }
  return cached;
}

// max over GPUs of max(bytes out / egress, bytes in / ingress, inter-node bytes / NIC), plus the
// shortest route latency among the GPU's peers and the launch latency: no schedule on this platform
// can beat it (in SimGrid's flow model a flow pays its route latency, then shares bandwidth).
double ReplayEngine::bound_s(const TrafficMatrix& m) {
  const auto& p = net_.platform();
  double bound = 0;
  for (int g = 0; g < gpus_; ++g) {
    double out = 0, in = 0, out_inter = 0, in_inter = 0;
    double latency = INFINITY;
    for (int o = 0; o < gpus_; ++o) {
      if (o == g) continue;
      double to = m.at(g, o), from = m.at(o, g);
      if (to <= 0 && from <= 0) continue;
      bool inter = p.node_of_gpu[g] != p.node_of_gpu[o];
      out += to;
      in += from;
      if (inter) out_inter += to, in_inter += from;
      if (to > 0) latency = std::min(latency, route_latency_s(g, o));
      if (from > 0) latency = std::min(latency, route_latency_s(o, g));
    }
    if (out + in <= 0) continue;
    double t = std::max(out / p.egress_Bps[g], in / p.ingress_Bps[g]);
    if (p.scaleout_egress_Bps[g] > 0) t = std::max({t, out_inter / p.scaleout_egress_Bps[g], in_inter / p.scaleout_egress_Bps[g]});
    bound = std::max(bound, t + latency);
  }
  return bound + options_.a2a.launch_latency_s;
}

A2ARow ReplayEngine::summarize(const LayerWork& w, Phase phase, const TrafficMatrix& m,
                               const std::vector<double>& ready_s, const std::vector<double>& finish_s) {
  A2ARow row;
  row.step = w.step;
  row.layer = w.layer;
  row.phase = static_cast<std::int32_t>(phase);
  auto out = m.bytes_out(), in = m.bytes_in();
  double first_start = *std::min_element(ready_s.begin(), ready_s.end());
  int straggler = static_cast<int>(std::max_element(finish_s.begin(), finish_s.end()) - finish_s.begin());
  row.time_s = finish_s[straggler] - first_start;
  row.straggler_gpu = straggler;
  const auto& p = net_.platform();
  row.straggler_receives = in[straggler] / p.ingress_Bps[straggler] >= out[straggler] / p.egress_Bps[straggler];
  if (static_cast<int>(w.experts_by_gpu.size()) > straggler) {
    auto experts = w.experts_by_gpu[straggler];
    std::stable_sort(experts.begin(), experts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (int i = 0; i < kTopExperts && i < static_cast<int>(experts.size()); ++i) {
      row.top_expert[i] = experts[i].first;
      row.top_expert_tokens[i] = experts[i].second;
    }
  }
  row.network_bytes = m.network_bytes();
  row.max_bytes_in = *std::max_element(in.begin(), in.end());
  row.max_bytes_out = *std::max_element(out.begin(), out.end());
  row.bound_s = bound_s(m);
  if (options_.balanced_reference) {
    std::vector<double> zero(gpus_, 0.0);
    auto balanced = simulate(balanced_like(m), zero);
    row.balanced_s = *std::max_element(balanced.begin(), balanced.end());
  }
  for (int g = 0; g < gpus_; ++g)
    result_.gpu_rows.push_back({w.step, w.layer, row.phase, g, ready_s[g], finish_s[g], out[g], in[g]});
  return row;
}

void ReplayEngine::replay_layer(const LayerWork& w) {
  if (w.dispatch.gpus != gpus_ || w.combine.gpus != gpus_)
    throw std::logic_error("replay_layer: matrix size differs from the expert-parallel degree");
  std::vector<double> ready(gpus_, 0.0);
  auto dispatch_done = simulate(w.dispatch, ready);
  result_.a2a_rows.push_back(summarize(w, Phase::kDispatch, w.dispatch, ready, dispatch_done));

  // Each GPU starts its combine when its dispatch is done and its experts have computed.
  std::vector<double> combine_ready = dispatch_done;
  for (int g = 0; g < gpus_ && g < static_cast<int>(w.compute_s.size()); ++g) combine_ready[g] += w.compute_s[g];
  auto combine_done = simulate(w.combine, combine_ready);
  result_.a2a_rows.push_back(summarize(w, Phase::kCombine, w.combine, combine_ready, combine_done));
  result_.dispatch_bytes_total += w.dispatch.total_bytes();
}

// --- serialisation: plain arrays of trivially copyable rows ------------------------------------

namespace {
struct Writer {
  std::string out;
  template <class T>
  void pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    pod<std::uint64_t>(s.size());
    out += s;
  }
  template <class T>
  void vec(const std::vector<T>& v) {
    pod<std::uint64_t>(v.size());
    out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
};
struct Reader {
  const std::string& in;
  std::size_t pos = 0;
  void need(std::size_t n) {
    if (pos + n > in.size()) throw std::runtime_error("corrupt result from the simulation process");
  }
  template <class T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, in.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    auto n = pod<std::uint64_t>();
    need(n);
    std::string s = in.substr(pos, n);
    pos += n;
    return s;
  }
  template <class T>
  std::vector<T> vec() {
    auto n = pod<std::uint64_t>();
    need(n * sizeof(T));
    std::vector<T> v(n);
    // An empty vector's data() may be null, and memcpy(nullptr, ..., 0) is undefined (UBSan).
    if (n > 0) std::memcpy(v.data(), in.data() + pos, n * sizeof(T));
    pos += n * sizeof(T);
    return v;
  }
};
}  // namespace

std::string serialize(const ReplayResult& r) {
  Writer w;
  w.str(r.platform);
  w.str(r.algorithm);
  w.str(r.engine);
  w.pod(r.gpus);
  w.vec(r.gpu_rows);
  w.vec(r.a2a_rows);
  for (auto v : {r.flows_simulated, r.a2a_simulated, r.a2a_reused}) w.pod(v);
  for (auto v : {r.tokens, r.assignments, r.token_copies_sent, r.dispatch_bytes_total, r.sim_cpu_s, r.sim_wall_s,
                 r.sim_peak_rss_bytes})
    w.pod(v);
  return std::move(w.out);
}

ReplayResult deserialize_result(const std::string& bytes) {
  Reader rd{bytes};
  ReplayResult r;
  r.platform = rd.str();
  r.algorithm = rd.str();
  r.engine = rd.str();
  r.gpus = rd.pod<int>();
  r.gpu_rows = rd.vec<GpuRow>();
  r.a2a_rows = rd.vec<A2ARow>();
  r.flows_simulated = rd.pod<std::uint64_t>();
  r.a2a_simulated = rd.pod<std::uint64_t>();
  r.a2a_reused = rd.pod<std::uint64_t>();
  for (double* v : {&r.tokens, &r.assignments, &r.token_copies_sent, &r.dispatch_bytes_total, &r.sim_cpu_s,
                    &r.sim_wall_s, &r.sim_peak_rss_bytes})
    *v = rd.pod<double>();
  return r;
}

// --- matrix input ------------------------------------------------------------------------------

ReplayResult replay_matrix(const TrafficMatrix& dispatch, double combine_scale, const PlatformSource& platform,
                           int ep_gpus, const ReplayOptions& options) {
  if (ep_gpus == 0) ep_gpus = dispatch.gpus;
  if (dispatch.gpus != ep_gpus)
    throw InputError(fmt::format("the matrix is {0}×{0} but the expert-parallel degree is {1}: a matrix needs one row "
                                 "and one column per GPU",
                                 dispatch.gpus, ep_gpus));
  find_algorithm(options.algorithm);  // fail before forking
  parse_network_engine(options.engine);
  return run_simulation(platform, ep_gpus, [&](FlowNetwork& net) {
    ReplayEngine engine(net, ep_gpus, options);
    LayerWork w;
    w.dispatch = dispatch;
    w.combine = dispatch.transposed().scaled(combine_scale);
    engine.replay_layer(w);
    return std::move(engine.result());
  });
}

}  // namespace moesim::sim
