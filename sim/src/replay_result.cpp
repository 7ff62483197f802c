// ReplayResult across the simulation process boundary: plain arrays of trivially copyable rows.
#include "moesim/sim/replay_result.hpp"

#include <cstring>
#include <stdexcept>
#include <iterator>
#include <type_traits>
#include <utility>

namespace moesim::sim {

const char* to_string(Phase p) { return p == Phase::kDispatch ? "dispatch" : "combine"; }

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

// Appending in (step, layer) order makes every row and every sum the same as one engine replaying
// the layers one after the other: rows are copied as they are, and each total gets the same
// additions in the same order (`from` holds one layer's, added to 0 exactly).
void move_rows(ReplayResult& from, ReplayResult& into) {
  auto append = [](auto& src, auto& dst) {
    dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
    src.clear();
  };
  append(from.gpu_rows, into.gpu_rows);
  append(from.a2a_rows, into.a2a_rows);
  append(from.layer_rows, into.layer_rows);
  append(from.dispatch_matrices, into.dispatch_matrices);
  append(from.combine_matrices, into.combine_matrices);
  into.flows_simulated += std::exchange(from.flows_simulated, 0);
  into.a2a_simulated += std::exchange(from.a2a_simulated, 0);
  into.a2a_reused += std::exchange(from.a2a_reused, 0);
  into.dispatch_bytes_total += std::exchange(from.dispatch_bytes_total, 0.0);
}

void add_traffic(ReplayResult& r, const LayerTrafficTotals& t) {
  r.tokens += t.tokens;
  r.assignments += t.assignments;
  r.token_copies_sent += t.token_copies_sent;
}

std::string serialize(const ReplayResult& r) {
  Writer w;
  w.str(r.platform);
  w.str(r.algorithm);
  w.str(r.engine);
  w.pod(r.gpus);
  w.pod(r.settings.dispatch_bytes_per_token);
  w.pod(r.settings.combine_bytes_per_token);
  w.pod(r.settings.hidden_size);
  w.str(r.settings.placement);
  w.str(r.settings.calibration);
  w.pod(r.settings.nominal_platform);
  w.str(r.settings.start_offsets);
  w.pod(r.settings.local_copy);
  w.pod(r.settings.fluid_merge);
  w.pod(r.settings.threads);
  w.vec(r.gpu_rows);
  w.vec(r.a2a_rows);
  w.vec(r.layer_rows);
  w.vec(r.dispatch_matrices);
  w.vec(r.combine_matrices);
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
  r.settings.dispatch_bytes_per_token = rd.pod<double>();
  r.settings.combine_bytes_per_token = rd.pod<double>();
  r.settings.hidden_size = rd.pod<int>();
  r.settings.placement = rd.str();
  r.settings.calibration = rd.str();
  r.settings.nominal_platform = rd.pod<bool>();
  r.settings.start_offsets = rd.str();
  r.settings.local_copy = rd.pod<bool>();
  r.settings.fluid_merge = rd.pod<double>();
  r.settings.threads = rd.pod<int>();
  r.gpu_rows = rd.vec<GpuRow>();
  r.a2a_rows = rd.vec<A2ARow>();
  r.layer_rows = rd.vec<LayerRow>();
  r.dispatch_matrices = rd.vec<double>();
  r.combine_matrices = rd.vec<double>();
  r.flows_simulated = rd.pod<std::uint64_t>();
  r.a2a_simulated = rd.pod<std::uint64_t>();
  r.a2a_reused = rd.pod<std::uint64_t>();
  for (double* v : {&r.tokens, &r.assignments, &r.token_copies_sent, &r.dispatch_bytes_total, &r.sim_cpu_s,
                    &r.sim_wall_s, &r.sim_peak_rss_bytes})
    *v = rd.pod<double>();
  return r;
}

}  // namespace moesim::sim
