// moesim calibrate: measured NCCL all-to-alls (analysis/studies/validation/measure_alltoall.py's results.json)
// -> a calibrated platform YAML that `extends:` the base preset, and a JSON with every fitted number
// and the fit's residuals. Deterministic: the same measurements give the same bytes (a ctest checks
// the committed h100x4 preset against this command).
//
// Fitted only on what isolates one mechanism, never on the skewed matrices it is judged on:
//   link_bandwidth       = median peer copy bandwidth of every ordered GPU pair / links per GPU
//   fixed cost A, rate R = t = A + x / R exactly at the smallest and largest uniform size (x: the
//                          busiest GPU's off-GPU bytes); launch latency = A - latency - overhead
//   bandwidth_factors    = per uniform size, (x / R) / (t - A) at its message size, clamped to (0, 1]
//   duplex_bandwidth     = 2 R (a uniform all-to-all sends and receives at once), plus the local
//                          copy's share when the copy is modelled (it crosses the same duplex link)
//   local_copy_bandwidth = diagonal-only matrices (pattern "diagonal_only"): bytes / (t - A) / factor
//   flow_bandwidth       = single-peer matrices (pattern "single_peer"): bytes / (t - A) / factor,
//                          set only when below what the links and duplex cap already allow
// Then every factor is corrected against this moesim's own replay until the uniform matrices are
// reproduced (relative residual < 1e-4), so an engine change is absorbed by the fit.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/sim/commands.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/topologies/platform_source.hpp"
#include "moesim/topologies/platform_spec.hpp"

namespace moesim::sim {
namespace {

constexpr double kRefineTolerance = 1e-4;  // relative residual on a uniform matrix
constexpr int kRefineIterations = 3;
constexpr double kSmallestFactor = 1e-4;
constexpr double kBytesPerGB = 1e9;

struct Measured {
  std::string pattern;
  double bytes_per_gpu = 0;
  TrafficMatrix matrix;
  double max_s = 0;  // median over iterations of the slowest rank's time
};

struct Fit {
  std::string preset;
  int links_per_gpu = 0;
  double latency_s = 0, overhead_s = 0, launch_s = 0;
  double copy_Bps = 0, fixed_s = 0, rate_Bps = 0;
  double duplex_Bps = 0, local_copy_Bps = 0, flow_Bps = 0;
  std::vector<topologies::BandwidthFactorPoint> factors;
  std::vector<double> uniform_residuals;
  std::vector<std::string> notes;  // what could not be identified, in words
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string human_bytes(double b) {
  if (b >= (1 << 30)) return fmt::format("{:g} GiB", b / (1 << 30));
  if (b >= (1 << 20)) return fmt::format("{:g} MiB", b / (1 << 20));
  return fmt::format("{:g} KiB", b / (1 << 10));
}

// ---- reading the measurements --------------------------------------------------------------------

nlohmann::json read_results(const std::filesystem::path& file) {
  cli::require_file(file);
  std::ifstream in(file);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(located(file, fmt::format("not JSON ({})", e.what())));
  }
}

std::vector<Measured> first_pass(const nlohmann::json& results, const std::filesystem::path& file) {
  std::vector<Measured> out;
  try {
    for (const auto& r : results.at("records")) {
      if (r.at("rep").get<int>() != 0) continue;
      Measured m;
      m.pattern = r.at("pattern").get<std::string>();
      m.bytes_per_gpu = r.at("bytes_per_gpu").get<double>();
      const auto& rows = r.at("matrix_bytes");
      m.matrix = TrafficMatrix::zeros(static_cast<int>(rows.size()));
      for (int s = 0; s < m.matrix.gpus; ++s)
        for (int d = 0; d < m.matrix.gpus; ++d) m.matrix.at(s, d) = rows.at(s).at(d).get<double>();
      m.max_s = r.at("max_over_ranks").at("median_s").get<double>();
      if (!(m.max_s > 0) || !std::isfinite(m.max_s)) throw InputError(located(file, "a record has no positive median time"));
      out.push_back(std::move(m));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(located(file, fmt::format("not a measure_alltoall.py results file ({})", e.what())));
  }
  return out;
}

std::vector<Measured> of_pattern(const std::vector<Measured>& all, const std::string& pattern) {
  std::vector<Measured> out;
  for (const auto& m : all)
    if (m.pattern == pattern) out.push_back(m);
  std::sort(out.begin(), out.end(), [](const Measured& a, const Measured& b) { return a.bytes_per_gpu < b.bytes_per_gpu; });
  return out;
}

double peer_copy_Bps(const nlohmann::json& results, const std::filesystem::path& file) {
  std::vector<double> pairs;
  for (const auto& row : results.at("meta").value("copy_bandwidth", nlohmann::json::array()))
    if (row.value("kind", "") == "pair") pairs.push_back(row.at("GBps").get<double>() * kBytesPerGB);
  if (pairs.empty()) throw InputError(located(file, "no peer copy bandwidth (meta.copy_bandwidth rows of kind 'pair')"));
  return median(pairs);
}

double busiest_off_gpu_bytes(const TrafficMatrix& m) {
  auto out = m.bytes_out();
  return *std::max_element(out.begin(), out.end());
}

// The off-diagonal entry of a uniform matrix: its message size.
double message_bytes(const TrafficMatrix& m) {
  std::vector<double> off;
  for (int s = 0; s < m.gpus; ++s)
    for (int d = 0; d < m.gpus; ++d)
      if (s != d && m.at(s, d) > 0) off.push_back(m.at(s, d));
  return off.empty() ? 0 : median(off);
}

// ---- the fit -------------------------------------------------------------------------------------

void fit_uniform(const std::vector<Measured>& uniform, Fit& fit) {
  const Measured &lo = uniform.front(), &hi = uniform.back();
  double x_lo = busiest_off_gpu_bytes(lo.matrix), x_hi = busiest_off_gpu_bytes(hi.matrix);
  if (!(hi.max_s > lo.max_s) || !(x_hi > x_lo))
    throw InputError("calibrate: the uniform all-to-all's time does not grow with its size: no bandwidth to fit");
  fit.rate_Bps = (x_hi - x_lo) / (hi.max_s - lo.max_s);
  fit.fixed_s = lo.max_s - x_lo / fit.rate_Bps;
  for (const Measured& m : uniform) {
    double x = busiest_off_gpu_bytes(m.matrix);
    double f = m.max_s > fit.fixed_s ? std::min(1.0, (x / fit.rate_Bps) / (m.max_s - fit.fixed_s)) : 1.0;
    fit.factors.push_back({message_bytes(m.matrix), f});
  }
  if (fit.rate_Bps < fit.copy_Bps) {
    fit.duplex_Bps = 2 * fit.rate_Bps;  // sending and receiving at once is slower than one direction alone
  } else {                              // not identifiable: the factors then scale the links alone
    for (auto& p : fit.factors) p.factor *= fit.rate_Bps / fit.copy_Bps;
    fit.notes.push_back("duplex cap not identifiable (uniform rate >= copy bandwidth)");
  }
  fit.launch_s = fit.fixed_s - fit.latency_s - fit.overhead_s;
  if (fit.launch_s < 0) {
    fit.notes.push_back(fmt::format("fitted fixed cost {:.3f} us is below latency + overhead: launch latency 0", fit.fixed_s * 1e6));
    fit.launch_s = 0;
  }
}

double factor_at(const Fit& fit, double bytes) {
  topologies::CalibrationSpec c;
  c.bandwidth_factors = fit.factors;
  return c.bandwidth_factor_for(bytes);
}

// The largest matrix of a pattern isolates its mechanism best (the fixed cost matters least there).
double isolated_rate_Bps(const std::vector<Measured>& ms, const Fit& fit, double (*bytes_of)(const TrafficMatrix&)) {
  const Measured& m = ms.back();
  double bytes = bytes_of(m.matrix);
  if (!(m.max_s > fit.fixed_s)) return 0;
  return bytes / (m.max_s - fit.fixed_s) / factor_at(fit, bytes);
}

double largest_diagonal(const TrafficMatrix& m) {
  double most = 0;
  for (int g = 0; g < m.gpus; ++g) most = std::max(most, m.at(g, g));
  return most;
}
double largest_entry_off_diagonal(const TrafficMatrix& m) {
  double most = 0;
  for (int s = 0; s < m.gpus; ++s)
    for (int d = 0; d < m.gpus; ++d)
      if (s != d) most = std::max(most, m.at(s, d));
  return most;
}

void fit_local_copy(const std::vector<Measured>& diagonal, const std::vector<Measured>& uniform, Fit& fit) {
  if (diagonal.empty()) {
    fit.notes.push_back("local copy not calibrated (no diagonal_only matrices): the diagonal stays free");
    return;
  }
  fit.local_copy_Bps = isolated_rate_Bps(diagonal, fit, &largest_diagonal);
  // The uniform all-to-all's copy crosses the duplex link too: its cap carries send + receive + copy.
  const TrafficMatrix& u = uniform.back().matrix;
  double off = busiest_off_gpu_bytes(u), diag = largest_diagonal(u);
  if (fit.duplex_Bps > 0 && off > 0) fit.duplex_Bps = fit.rate_Bps * (2 * off + diag) / off;
}

void fit_flow_limit(const std::vector<Measured>& single_peer, const Fit& base, Fit& fit) {
  if (single_peer.empty()) {
    fit.notes.push_back("per-peer limit not calibrated (no single_peer matrices)");
    return;
  }
  double rate = isolated_rate_Bps(single_peer, fit, &largest_entry_off_diagonal);
  double allowed = base.copy_Bps;  // one direction alone, all links
  if (fit.duplex_Bps > 0) allowed = std::min(allowed, fit.duplex_Bps);
  if (rate > 0 && rate < allowed) fit.flow_Bps = rate;
  else fit.notes.push_back("per-peer limit not below the links' and duplex cap's: left unset");
}

// ---- the platform it describes -------------------------------------------------------------------

topologies::PlatformSpec calibrated_spec(topologies::PlatformSpec spec, const Fit& fit) {
  spec.node.links = fit.links_per_gpu;
  spec.node.link_bandwidth_Bps = fit.copy_Bps / fit.links_per_gpu;
  spec.node.latency_s = fit.latency_s;
  spec.node.duplex_bandwidth_Bps = fit.duplex_Bps;
  spec.node.local_copy_bandwidth_Bps = fit.local_copy_Bps;
  spec.node.flow_bandwidth_Bps = fit.flow_Bps;
  spec.calibration.bandwidth_factor = 1;
  spec.calibration.bandwidth_factors = fit.factors;
  spec.calibration.source = "calibrate";
  return spec;
}

ReplayOptions replay_options(const Fit& fit) {
  ReplayOptions o;
  o.a2a.launch_latency_s = fit.launch_s;
  o.a2a.per_message_overhead_s = fit.overhead_s;
  o.balanced_reference = false;
  return o;
}

std::vector<double> residuals(const topologies::PlatformSpec& base, const Fit& fit, const std::vector<Measured>& ms) {
  topologies::PlatformSource source{"calibration", calibrated_spec(base, fit)};
  std::vector<double> r;
  for (const Measured& m : ms) {
    ReplayResult result = replay_matrix(m.matrix, 1.0, source, m.matrix.gpus, replay_options(fit));
    r.push_back(result.a2a_rows.at(0).time_s / m.max_s - 1);
  }
  return r;
}

double sum_of_squares(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return s;
}

// Each uniform matrix uses its own table point only: correct each factor by the ratio of transfer
// times (time - fixed cost is proportional to 1 / factor), keep the step only if it helps.
void refine_factors(const topologies::PlatformSpec& base, const std::vector<Measured>& uniform, Fit& fit) {
  auto r = residuals(base, fit, uniform);
  for (int i = 0; i < kRefineIterations; ++i) {
    double worst = 0;
    for (double x : r) worst = std::max(worst, std::fabs(x));
    if (worst < kRefineTolerance) break;
    Fit next = fit;
    for (std::size_t k = 0; k < uniform.size(); ++k) {
      double measured_s = uniform[k].max_s, predicted_s = measured_s * (1 + r[k]);
      if (predicted_s > fit.fixed_s && measured_s > fit.fixed_s)
        next.factors[k].factor = std::clamp(fit.factors[k].factor * (predicted_s - fit.fixed_s) / (measured_s - fit.fixed_s),
                                            kSmallestFactor, 1.0);
    }
    auto r_next = residuals(base, next, uniform);
    if (sum_of_squares(r_next) >= sum_of_squares(r)) break;
    fit = std::move(next);
    r = std::move(r_next);
  }
  fit.uniform_residuals = r;
}

// ---- outputs -------------------------------------------------------------------------------------

std::string bandwidth_text(double Bps) { return fmt::format("{:.6g}GBps", Bps / kBytesPerGB); }

std::string yaml_text(const Fit& fit, const std::string& source) {
  std::string y;
  y += fmt::format("# Calibrated by `moesim calibrate` (sim/src/calibrate.cpp): {}\n", source);
  y += "# link_bandwidth = median peer copy bandwidth / links per GPU; duplex_bandwidth = what a GPU sends +\n"
       "# receives (+ copies) at the largest uniform size; bandwidth_factors = the uniform all-to-all's rate\n"
       "# at each size / the largest's, by message size; local_copy_bandwidth from diagonal-only matrices,\n"
       "# flow_bandwidth from single-peer ones (when measured); latency = the preset's (platforms/README.md).\n";
  y += fmt::format("# Replay options that go with it: --algorithm direct --launch-us {:.6g} --overhead-us {:.6g}\n",
                   fit.launch_s * 1e6, fit.overhead_s * 1e6);
  for (const auto& note : fit.notes) y += "# " + note + "\n";
  y += fmt::format("name: {}-calibrated\n", std::filesystem::path(fit.preset).stem().string());
  y += fmt::format("description: {} calibrated on measured NCCL all-to-all (analysis/studies/validation)\n",
                   std::filesystem::path(fit.preset).stem().string());
  y += fmt::format("extends: {}\nnode:\n", fit.preset);
  if (fit.duplex_Bps > 0) y += fmt::format("  duplex_bandwidth: {}\n", bandwidth_text(fit.duplex_Bps));
  if (fit.local_copy_Bps > 0) y += fmt::format("  local_copy_bandwidth: {}\n", bandwidth_text(fit.local_copy_Bps));
  y += fmt::format("  nvswitch:\n    links_per_gpu: {}\n    link_bandwidth: {}\n    latency: {:.6g}us\n", fit.links_per_gpu,
                   bandwidth_text(fit.copy_Bps / fit.links_per_gpu), fit.latency_s * 1e6);
  if (fit.flow_Bps > 0) y += fmt::format("    flow_bandwidth: {}\n", bandwidth_text(fit.flow_Bps));
  y += fmt::format("calibration:\n  source: \"{}\"\n  bandwidth_factor: 1\n  bandwidth_factors:\n", source);
  for (const auto& p : fit.factors)
    y += fmt::format("    - {{message_size: {:.0f}B, factor: {:.6g}}}\n", p.message_bytes, p.factor);
  return y;
}

// calibrate.py's JSON schema, which analysis/studies/validation/predict.py reads.
nlohmann::json fit_json(const Fit& fit, const std::vector<Measured>& uniform, const std::string& source) {
  nlohmann::json factors = nlohmann::json::array();
  for (const auto& p : fit.factors) factors.push_back({p.message_bytes, p.factor});
  nlohmann::json platform = {{"preset", fit.preset},
                             {"links_per_gpu", fit.links_per_gpu},
                             {"link_bandwidth_Bps", fit.copy_Bps / fit.links_per_gpu},
                             {"bandwidth_factor", 1.0},
                             {"latency_s", fit.latency_s},
                             {"bandwidth_factors", factors}};
  if (fit.duplex_Bps > 0) platform["duplex_bandwidth_Bps"] = fit.duplex_Bps;
  if (fit.local_copy_Bps > 0) platform["local_copy_bandwidth_Bps"] = fit.local_copy_Bps;
  if (fit.flow_Bps > 0) platform["flow_bandwidth_Bps"] = fit.flow_Bps;
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t k = 0; k < uniform.size(); ++k)
    rows.push_back({{"bytes_per_gpu", uniform[k].bytes_per_gpu},
                    {"measured_s", uniform[k].max_s},
                    {"predicted_s", uniform[k].max_s * (1 + fit.uniform_residuals[k])},
                    {"rel_err", fit.uniform_residuals[k]}});
  return {{"platform", platform},
          {"replay", {{"algorithm", "direct"}, {"launch_latency_s", fit.launch_s}, {"per_message_overhead_s", fit.overhead_s}}},
          {"source", source},
          {"fit", {{"copy_Bps", fit.copy_Bps}, {"fixed_cost_s", fit.fixed_s}, {"per_gpu_Bps", fit.rate_Bps}, {"uniform", rows},
                   {"notes", fit.notes}}}};
}

// ---- the command ---------------------------------------------------------------------------------

struct CalibrateArgs {
  std::string results, preset, out;
  int links_per_gpu = 0;
  double latency_us = -1, overhead_us = 0;
  bool json = false;
};

int run_calibrate(const CalibrateArgs& a) {
  nlohmann::json results = read_results(a.results);
  auto all = first_pass(results, a.results);
  auto uniform = of_pattern(all, "uniform");
  if (uniform.size() < 2)
    throw InputError(located(a.results, fmt::format("{} uniform matrices in the first pass: at least 2 sizes are needed", uniform.size())));
  topologies::PlatformSpec base = topologies::load_platform_spec(topologies::resolve_platform_path(a.preset));
  Fit fit;
  fit.preset = a.preset;
  fit.links_per_gpu = a.links_per_gpu > 0 ? a.links_per_gpu : base.node.links;
  fit.latency_s = a.latency_us >= 0 ? a.latency_us * 1e-6 : base.node.latency_s;
  fit.overhead_s = a.overhead_us * 1e-6;
  fit.copy_Bps = peer_copy_Bps(results, a.results);
  fit_uniform(uniform, fit);
  Fit uniform_only = fit;
  fit_local_copy(of_pattern(all, "diagonal_only"), uniform, fit);
  fit_flow_limit(of_pattern(all, "single_peer"), uniform_only, fit);
  refine_factors(base, uniform, fit);

  const auto& meta = results.at("meta");
  std::string source = fmt::format("{}, measured {} on {} x {} (NCCL {}), {} uniform sizes ({} to {} per GPU) + peer copy bandwidth",
                                   a.results, meta.value("date_utc", "?"), uniform.front().matrix.gpus,
                                   meta.value("gpus", nlohmann::json::array({"?"})).at(0).get<std::string>(),
                                   meta.value("nccl", "?"), uniform.size(), human_bytes(uniform.front().bytes_per_gpu),
                                   human_bytes(uniform.back().bytes_per_gpu));
  nlohmann::json j = fit_json(fit, uniform, source);
  write_file_atomically(a.out, yaml_text(fit, source));
  write_file_atomically(std::filesystem::path(a.out).replace_extension(".json"), j.dump(1) + "\n");
  if (a.json) {
    cli::print_json(j);
    return kExitOk;
  }
  fmt::print("copy {:.1f} GB/s per GPU; uniform rate {:.1f} GB/s each way; fixed cost {:.2f} us (launch {:.2f} us)\n",
             fit.copy_Bps / kBytesPerGB, fit.rate_Bps / kBytesPerGB, fit.fixed_s * 1e6, fit.launch_s * 1e6);
  if (fit.duplex_Bps > 0) fmt::print("duplex {:.1f} GB/s (send + receive per GPU)\n", fit.duplex_Bps / kBytesPerGB);
  if (fit.local_copy_Bps > 0) fmt::print("local copy {:.1f} GB/s\n", fit.local_copy_Bps / kBytesPerGB);
  if (fit.flow_Bps > 0) fmt::print("per-peer limit {:.1f} GB/s\n", fit.flow_Bps / kBytesPerGB);
  for (const auto& note : fit.notes) fmt::print("note: {}\n", note);
  for (std::size_t k = 0; k < uniform.size(); ++k)
    fmt::print("  uniform {:>9}: measured {:8.1f} us, replayed {:8.1f} us ({:+.2f} %)\n", human_bytes(uniform[k].bytes_per_gpu),
               uniform[k].max_s * 1e6, uniform[k].max_s * (1 + fit.uniform_residuals[k]) * 1e6, 100 * fit.uniform_residuals[k]);
  fmt::print("wrote {} and {}\n", a.out, std::filesystem::path(a.out).replace_extension(".json").string());
  return kExitOk;
}

}  // namespace

void register_calibrate_command(cli::Commands& commands, CLI::App& app) {
  auto args = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = commands.add(
      app, "calibrate",
      "Fit a platform to measured NCCL all-to-alls (uniform, diagonal-only and single-peer matrices + copy bandwidth)",
      "moesim calibrate --results analysis/studies/validation/h100x4/results.json --preset h100-nvswitch-4gpu "
      "--out analysis/studies/validation/h100x4/calibrated.yaml",
      [args] { return run_calibrate(*args); });
  cmd->add_option("--results", args->results, "results.json written by analysis/studies/validation/measure_alltoall.py")->required();
  cmd->add_option("--preset", args->preset, "The platform the calibration extends (a preset name or a YAML file)")->required();
  cmd->add_option("--out", args->out, "Calibrated platform YAML to write (the fit's JSON beside it, .json)")->required();
  cmd->add_option("--links-per-gpu", args->links_per_gpu, "NVLinks per GPU (default: the preset's)")
      ->check(cli::positive<int>());
  cmd->add_option("--latency-us", args->latency_us, "GPU -> GPU one-way latency (default: the preset's)")
      ->check(cli::non_negative<double>());
  cmd->add_option("--overhead-us", args->overhead_us, "Per-message software overhead to keep fixed, microseconds")
      ->check(cli::non_negative<double>());
  cli::add_json_flag(cmd, args->json);
}

}  // namespace moesim::sim
