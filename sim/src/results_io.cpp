// replay.h5 holds every row (format "moesim-replay" version 2); a2a.csv and summary.json hold the
// summaries. The three are written into a temporary folder beside the output folder, which then
// replaces it in one rename: a crash never leaves a folder whose files come from two runs.
#include <fmt/format.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <H5Cpp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"
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

constexpr int kReplayFormatVersion = 2;  // 2: /layer group, /a2a/stragglers, per-GPU phase times

void write_h5(const std::filesystem::path& path, const ReplayResult& r, const nlohmann::json& config,
              const nlohmann::json& summary) {
  AtomicOutput out(path);
  {
    H5::H5File f(out.temp_path().string(), H5F_ACC_TRUNC);
    string_attr(f, "format", "moesim-replay");
    int version = kReplayFormatVersion;
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
    column(a, "stragglers", r.a2a_rows, &A2ARow::stragglers);
    matrix_column(a, "top_expert", r.a2a_rows, &A2ARow::top_expert);
    matrix_column(a, "top_expert_tokens", r.a2a_rows, &A2ARow::top_expert_tokens);
    // Per layer: first dispatch start -> last combine finish.
    H5::Group l = f.createGroup("layer");
    column(l, "step", r.layer_rows, &LayerRow::step);
    column(l, "layer", r.layer_rows, &LayerRow::layer);
    column(l, "time_s", r.layer_rows, &LayerRow::time_s);
    column(l, "balanced_s", r.layer_rows, &LayerRow::balanced_s);
    column(l, "bound_s", r.layer_rows, &LayerRow::bound_s);
    column(l, "compute_max_s", r.layer_rows, &LayerRow::compute_max_s);
  }
  out.commit();
}

// replay --write-matrix: every (step, layer)'s GPU x GPU bytes, for other tools.
// matrices.h5: /dispatch and /combine [rows, gpus, gpus] float64 (row = source GPU), /step and /layer
// [rows] int32, in the order of replay.h5's /layer group; attribute unit = "bytes".
void write_matrices_h5(const std::filesystem::path& path, const ReplayResult& r) {
  const hsize_t rows = r.layer_rows.size(), n = static_cast<hsize_t>(r.gpus);
  AtomicOutput out(path);
  {
    H5::H5File f(out.temp_path().string(), H5F_ACC_TRUNC);
    string_attr(f, "format", "moesim-replay-matrices");
    string_attr(f, "unit", "bytes");
    column(f, "step", r.layer_rows, &LayerRow::step);
    column(f, "layer", r.layer_rows, &LayerRow::layer);
    hsize_t dims[3] = {rows, n, n};
    H5::DataSpace space(3, dims);
    for (auto [name, values] : {std::pair{"dispatch", &r.dispatch_matrices}, std::pair{"combine", &r.combine_matrices}})
      f.createDataSet(name, H5::PredType::NATIVE_DOUBLE, space).write(values->data(), H5::PredType::NATIVE_DOUBLE);
  }
  out.commit();
}

// matrices.csv: step,layer,phase,src,dst,bytes, the non-zero entries only (a sparse listing).
std::string matrices_csv(const ReplayResult& r) {
  std::string csv = "step,layer,phase,src,dst,bytes\n";
  const std::size_t n = static_cast<std::size_t>(r.gpus);
  for (std::size_t k = 0; k < r.layer_rows.size(); ++k)
    for (auto [phase, values] : {std::pair{"dispatch", &r.dispatch_matrices}, std::pair{"combine", &r.combine_matrices}})
      for (std::size_t s = 0; s < n; ++s)
        for (std::size_t d = 0; d < n; ++d)
          if (double b = (*values)[(k * n + s) * n + d]; b > 0)
            csv += fmt::format("{},{},{},{},{},{:.17g}\n", r.layer_rows[k].step, r.layer_rows[k].layer, phase, s, d, b);
  return csv;
}

// One row per all-to-all (phase dispatch / combine) and per layer (phase layer: no straggler).
std::string a2a_csv(const ReplayResult& r) {
  std::string csv =
      "step,layer,phase,time_s,balanced_s,bound_s,slowdown,efficiency,network_bytes,max_bytes_in,max_bytes_out,"
      "straggler_gpu,straggler_bound_by,stragglers,top_expert,top_expert_tokens\n";
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  for (std::size_t i = 0; i < r.a2a_rows.size(); ++i) {
    const auto& a = r.a2a_rows[i];
    csv += fmt::format("{},{},{},{:.9g},{:.9g},{:.9g},{:.6g},{:.6g},{:.0f},{:.0f},{:.0f},{},{},{},{},{:.0f}\n", a.step,
                       a.layer, to_string(static_cast<Phase>(a.phase)), a.time_s, a.balanced_s, a.bound_s,
                       ratio(a.time_s, a.balanced_s), ratio(a.bound_s, a.time_s), a.network_bytes, a.max_bytes_in,
                       a.max_bytes_out, a.straggler_gpu, a.straggler_receives ? "ingress" : "egress", a.stragglers,
                       a.top_expert[0], a.top_expert_tokens[0]);
    if (a.phase == static_cast<int>(Phase::kCombine) && i / 2 < r.layer_rows.size()) {
      const auto& l = r.layer_rows[i / 2];
      csv += fmt::format("{},{},layer,{:.9g},{:.9g},{:.9g},{:.6g},{:.6g},{:.0f},,,,,,,\n", l.step, l.layer, l.time_s,
                         l.balanced_s, l.bound_s, ratio(l.time_s, l.balanced_s), ratio(l.bound_s, l.time_s),
                         r.a2a_rows[i - 1].network_bytes + a.network_bytes);
    }
  }
  return csv;
}

void fsync_path(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// The output folder of an earlier run with another configuration is not replaced without a word:
// its figures would be lost, and a sweep pointed at the wrong folder would overwrite another's.
void refuse_other_configuration(const std::filesystem::path& dir, const nlohmann::json& config) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    throw InputError(located(dir, "--out names a file, expected a folder for the replay's results"));
  refuse_path_below_a_file(dir);  // was: exit 1 with a filesystem error, after the whole replay
  std::ifstream old(dir / "summary.json");
  if (!old) return;
  nlohmann::json previous = nlohmann::json::parse(old, nullptr, false);
  if (previous.is_discarded() || !previous.contains("config") || previous["config"] == config) return;
  throw InputError(located(dir, "holds the results of a replay with another configuration (its summary.json "
                                "'config' differs): choose another --out, or remove the folder first"));
}

// The finished temporary folder takes the output folder's place in one step: renameat2's
// RENAME_EXCHANGE swaps the two names atomically, then the old results are removed.
void replace_folder(const std::filesystem::path& temp, const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::rename(temp, dir);
  } else {
    if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0)
      throw std::runtime_error(fmt::format("{}: cannot replace the folder with the new results: {}", dir.string(),
                                           std::strerror(errno)));
    std::filesystem::remove_all(temp, ec);  // the old results, now under the temporary name
  }
  fsync_path(dir.has_parent_path() ? dir.parent_path() : std::filesystem::path("."));
}

}  // namespace

static std::filesystem::path output_folder(const std::filesystem::path& dir) {
  std::filesystem::path target = std::filesystem::absolute(dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();  // "results/"
  return target;
}

void check_outputs(const std::filesystem::path& dir, const nlohmann::json& config) {
  std::filesystem::path target = output_folder(dir);
  refuse_other_configuration(target, config);
  // The results are written beside the folder: a folder there that cannot be written fails now
  // (exit 1, the machine's state, not the input), not after a replay whose results would be lost.
  std::error_code ec;
  for (std::filesystem::path folder = target.parent_path(); !folder.empty(); folder = folder.parent_path()) {
    if (std::filesystem::exists(folder, ec)) {
      if (::access(folder.c_str(), W_OK | X_OK) != 0)
        throw std::runtime_error(fmt::format("{}: cannot write the results: the folder {} is not writable ({})",
                                             dir.string(), folder.string(), std::strerror(errno)));
      break;
    }
    if (folder == folder.parent_path()) break;
  }
}

void write_result_folder(const std::filesystem::path& dir, const nlohmann::json& config,
                         const std::function<void(const std::filesystem::path& temp)>& fill) {
  std::filesystem::path target = output_folder(dir);
  refuse_other_configuration(target, config);
  std::filesystem::path parent = target.parent_path();
  std::filesystem::create_directories(parent);
  std::filesystem::path temp = parent / fmt::format(".{}.partial-{}", target.filename().string(), ::getpid());
  std::filesystem::remove_all(temp);
  std::filesystem::create_directory(temp);
  try {
    fill(temp);
    fsync_path(temp);
    replace_folder(temp, target);
  } catch (const H5::Exception& e) {
    std::error_code ignored;
    std::filesystem::remove_all(temp, ignored);
    throw std::runtime_error(fmt::format("{}: cannot write the results: {}", dir.string(), e.getDetailMsg()));
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(temp, ignored);
    throw;
  }
}

void write_outputs(const std::filesystem::path& dir, const ReplayResult& r, const ReplaySummary& s,
                   const nlohmann::json& config) {
  nlohmann::json summary = to_json(s, r);
  summary["config"] = config;
  write_result_folder(dir, config, [&](const std::filesystem::path& temp) {
    write_h5(temp / "replay.h5", r, config, summary);
    write_file_atomically(temp / "a2a.csv", a2a_csv(r));
    write_file_atomically(temp / "summary.json", summary.dump(2) + "\n");
    if (!r.dispatch_matrices.empty()) {
      write_matrices_h5(temp / "matrices.h5", r);
      write_file_atomically(temp / "matrices.csv", matrices_csv(r));
    }
  });
}

}  // namespace moesim::sim
