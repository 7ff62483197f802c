// replay.h5 holds every row (format "moesim-replay" version 1); a2a.csv and summary.json hold the
// summaries. All three are written through moesim::AtomicOutput: a crash never leaves a file that
// looks complete.
#include <fmt/format.h>

#include <H5Cpp.h>

#include <fstream>

#include "moesim/common/atomic_file.hpp"
#include "moesim/sim/summary.hpp"

namespace moesim::sim {

namespace {

template <class T>
H5::PredType h5_type();
template <>
H5::PredType h5_type<std::int32_t>() { return H5::PredType::NATIVE_INT32; }
template <>
H5::PredType h5_type<double>() { return H5::PredType::NATIVE_DOUBLE; }

template <class Row, class T>
void column(H5::Group& g, const std::string& name, const std::vector<Row>& rows, T Row::*member) {
  std::vector<T> v;
  v.reserve(rows.size());
  for (const auto& r : rows) v.push_back(r.*member);
  hsize_t dims[1] = {v.size()};
  H5::DataSpace space(1, dims);
  auto ds = g.createDataSet(name, h5_type<T>(), space);
  if (!v.empty()) ds.write(v.data(), h5_type<T>());
}

template <class T>
void matrix_column(H5::Group& g, const std::string& name, const std::vector<A2ARow>& rows, const T (A2ARow::*member)[kTopExperts]) {
  std::vector<T> v;
  for (const auto& r : rows)
    for (int k = 0; k < kTopExperts; ++k) v.push_back((r.*member)[k]);
  hsize_t dims[2] = {rows.size(), static_cast<hsize_t>(kTopExperts)};
  H5::DataSpace space(2, dims);
  auto ds = g.createDataSet(name, h5_type<T>(), space);
  if (!v.empty()) ds.write(v.data(), h5_type<T>());
}

void string_attr(H5::H5Object& obj, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, value.empty() ? 1 : value.size());
  obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value.empty() ? std::string(" ") : value);
}

void write_h5(const std::filesystem::path& path, const ReplayResult& r, const nlohmann::json& config,
              const nlohmann::json& summary) {
  AtomicOutput out(path);
  {
    H5::H5File f(out.temp_path().string(), H5F_ACC_TRUNC);
    string_attr(f, "format", "moesim-replay");
    int version = 1;
    f.createAttribute("version", H5::PredType::NATIVE_INT, H5::DataSpace(H5S_SCALAR)).write(H5::PredType::NATIVE_INT, &version);
    string_attr(f, "config", config.dump());
    string_attr(f, "summary", summary.dump());
    // Per (step, layer, phase, GPU); phase 0 = dispatch, 1 = combine; times relative to the layer start.
    H5::Group g = f.createGroup("gpu");
    column(g, "step", r.gpu_rows, &GpuRow::step);
    column(g, "layer", r.gpu_rows, &GpuRow::layer);
    column(g, "phase", r.gpu_rows, &GpuRow::phase);
    column(g, "gpu", r.gpu_rows, &GpuRow::gpu);
    column(g, "start_s", r.gpu_rows, &GpuRow::start_s);
    column(g, "finish_s", r.gpu_rows, &GpuRow::finish_s);
    column(g, "bytes_out", r.gpu_rows, &GpuRow::bytes_out);
    column(g, "bytes_in", r.gpu_rows, &GpuRow::bytes_in);
    // Per all-to-all.
    H5::Group a = f.createGroup("a2a");
    column(a, "step", r.a2a_rows, &A2ARow::step);
    column(a, "layer", r.a2a_rows, &A2ARow::layer);
    column(a, "phase", r.a2a_rows, &A2ARow::phase);
    column(a, "time_s", r.a2a_rows, &A2ARow::time_s);
    column(a, "balanced_s", r.a2a_rows, &A2ARow::balanced_s);
    column(a, "bound_s", r.a2a_rows, &A2ARow::bound_s);
    column(a, "network_bytes", r.a2a_rows, &A2ARow::network_bytes);
    column(a, "max_bytes_in", r.a2a_rows, &A2ARow::max_bytes_in);
    column(a, "max_bytes_out", r.a2a_rows, &A2ARow::max_bytes_out);
    column(a, "straggler_gpu", r.a2a_rows, &A2ARow::straggler_gpu);
    column(a, "straggler_receives", r.a2a_rows, &A2ARow::straggler_receives);
    matrix_column(a, "top_expert", r.a2a_rows, &A2ARow::top_expert);
    matrix_column(a, "top_expert_tokens", r.a2a_rows, &A2ARow::top_expert_tokens);
  }
  out.commit();
}

std::string a2a_csv(const ReplayResult& r) {
  std::string csv =
      "step,layer,phase,time_s,balanced_s,bound_s,slowdown,efficiency,network_bytes,max_bytes_in,max_bytes_out,"
      "straggler_gpu,straggler_bound_by,top_expert,top_expert_tokens\n";
  for (const auto& a : r.a2a_rows)
    csv += fmt::format("{},{},{},{:.9g},{:.9g},{:.9g},{:.6g},{:.6g},{:.0f},{:.0f},{:.0f},{},{},{},{:.0f}\n", a.step,
                       a.layer, to_string(static_cast<Phase>(a.phase)), a.time_s, a.balanced_s, a.bound_s,
                       a.balanced_s > 0 ? a.time_s / a.balanced_s : 0.0, a.time_s > 0 ? a.bound_s / a.time_s : 0.0,
                       a.network_bytes, a.max_bytes_in, a.max_bytes_out, a.straggler_gpu,
                       a.straggler_receives ? "ingress" : "egress", a.top_expert[0], a.top_expert_tokens[0]);
  return csv;
}

}  // namespace

void write_outputs(const std::filesystem::path& dir, const ReplayResult& r, const ReplaySummary& s,
                   const nlohmann::json& config) {
  std::filesystem::create_directories(dir);
  nlohmann::json summary = to_json(s, r);
  summary["config"] = config;
  write_h5(dir / "replay.h5", r, config, summary);
  write_file_atomically(dir / "a2a.csv", a2a_csv(r));
  write_file_atomically(dir / "summary.json", summary.dump(2) + "\n");
}

}  // namespace moesim::sim
