// Sweeps end to end with real `moesim` worker processes: results, failures, resume, tables.
// Loads are chosen so that balance metrics have closed forms: every token on one expert of E gives
// Gini (E-1)/E and max/mean E; top-k = E (every expert picked once per token) gives Gini 0, max/mean 1.
#include <H5Cpp.h>
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "moesim/analysis/results_table.hpp"
#include "moesim/analysis/sweep_runner.hpp"
#include "moesim/analysis/sweep_spec.hpp"
#include "moesim/common/error.hpp"
#include "moesim/testing/scratch.hpp"

using namespace moesim::analysis;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

RunOptions options_for(const fs::path& out) {
  RunOptions o;
  o.out_dir = out;
  o.moesim_exe = MOESIM_EXE;
  o.jobs = 2;
  o.progress = false;
  return o;
}

}  // namespace

TEST_CASE("a sweep runs every scenario in worker processes, records failures and resumes") {
  fs::path dir = moesim::testing::scratch_subdir("run");
  std::ofstream(dir / "base.yaml") << "nic: {bandwidth: 25Gbps, latency: 1us}\n";
  std::ofstream(dir / "s.yaml") << R"(
name: closed-forms
parameters: {experts: 4, tokens: 1000, plat: base.yaml}
axes:
  k: [1, 4, 9]
  load: ["hot:0=1.0", uniform]
  plat.nic.bandwidth: [100Gbps]
steps:
  synth: moesim trace synth --layers 2 --experts {experts} --top-k {k} --tokens {tokens} --steps 1 --load {load} --out {dir}/t.h5 --json --quiet
  stats: moesim trace stats {dir}/t.h5 --json --quiet
)";
  SweepSpec spec = load_sweep_file(dir / "s.yaml");
  auto grid = expand_grid(spec);
  REQUIRE(grid.size() == 6);
  fs::path out = dir / "out";
  write_sweep_index(spec, grid, out);
  RunSummary first = run_scenarios(spec, grid, options_for(out));
  CHECK(first.selected == 6);
  CHECK(first.skipped == 0);
  CHECK(first.ok == 4);
  CHECK(first.failed == 2);  // top-k 9 of 4 experts, with either load

  // grid order: (k, load) = (1,hot) (1,uniform) (4,hot) (4,uniform) (9,hot) (9,uniform)
  json one_hot = read_json(result_path(out, grid[0].id));
  CHECK(one_hot["status"] == "ok");
  CHECK(one_hot["params"]["k"] == 1);
  CHECK(one_hot["params"]["load"] == "hot:0=1.0");
  CHECK(one_hot["steps"]["stats"]["mean_over_layers"]["all"]["gini"].get<double>() == doctest::Approx(0.75));
  CHECK(one_hot["steps"]["stats"]["mean_over_layers"]["all"]["max_mean_ratio"].get<double>() == doctest::Approx(4.0));
  CHECK(one_hot["steps"]["synth"]["tokens"] == 1000);
  json all_experts = read_json(result_path(out, grid[3].id));
  CHECK(all_experts["steps"]["stats"]["mean_over_layers"]["all"]["gini"].get<double>() == doctest::Approx(0.0));
  json bad = read_json(result_path(out, grid[5].id));
  CHECK(bad["status"] == "failed");
  CHECK(bad["exit_code"] == 2);
  CHECK(bad["failed_step"] == "synth");
  CHECK(bad["error"].get<std::string>().find("top-k must be in 1..4") != std::string::npos);

  // The derived platform file extends the base (absolute path) and overrides one key.
  YAML::Node derived = YAML::LoadFile((scenario_dir(out, grid[0]) / "plat.yaml").string());
  CHECK(derived["extends"].as<std::string>() == (dir / "base.yaml").string());
  CHECK(derived["nic"]["bandwidth"].as<std::string>() == "100Gbps");

  // Resume: finished scenarios are skipped (their result files untouched), failed ones retried.
  auto stamp = fs::last_write_time(result_path(out, grid[0].id));
  RunSummary second = run_scenarios(spec, grid, options_for(out));
  CHECK(second.skipped == 4);
  CHECK(second.ok == 0);
  CHECK(second.failed == 2);
  CHECK(fs::last_write_time(result_path(out, grid[0].id)) == stamp);
  RunOptions keep = options_for(out);
  keep.retry_failed = false;
  CHECK(run_scenarios(spec, grid, keep).skipped == 6);
  RunOptions force = options_for(out);
  force.rerun_all = true;
  RunSummary all = run_scenarios(spec, grid, force);
  CHECK(all.skipped == 0);
  CHECK(all.ok == 4);
  CHECK(fs::last_write_time(result_path(out, grid[0].id)) != stamp);

  // A slice (one Slurm array task) runs only its chunk.
  fs::remove_all(scenario_dir(out, grid[2]));
  fs::remove_all(scenario_dir(out, grid[3]));
  RunOptions slice = options_for(out);
  slice.first = 2;
  slice.count = 2;
  RunSummary part = run_scenarios(spec, grid, slice);
  CHECK(part.selected == 2);
  CHECK(part.ok == 2);

  // The table: one row per scenario, parameters and scalar outputs as columns.
  ResultsTable table = collect_table(out);
  REQUIRE(table.rows.size() == 6);
  for (const char* c : {"scenario", "status", "experts", "tokens", "plat", "k", "load", "plat.nic.bandwidth",
                        "stats.mean_over_layers.all.gini", "synth.tokens"})
    CHECK_MESSAGE(std::find(table.columns.begin(), table.columns.end(), c) != table.columns.end(), c);
  CHECK(table.rows[0]["stats.mean_over_layers.all.max_mean_ratio"].get<double>() == doctest::Approx(4.0));
  CHECK(table.rows[4]["status"] == "failed");
  CHECK(table.numeric("k"));
  CHECK_FALSE(table.numeric("load"));

  write_csv(table, out / "results.csv");
  write_hdf5(table, out / "results.h5", spec.name);
  std::ifstream csv(out / "results.csv");
  std::string header, row0;
  std::getline(csv, header);
  std::getline(csv, row0);
  CHECK(header.rfind("scenario,id,status,exit_code,failed_step,error,wall_s,experts,tokens,plat,k,load,plat.nic.bandwidth,", 0) == 0);
  CHECK(row0.rfind("0," + grid[0].id + ",ok,0,,,", 0) == 0);

  H5::H5File h5((out / "results.h5").string(), H5F_ACC_RDONLY);
  H5::DataSet gini = h5.openDataSet("/results/stats.mean_over_layers.all.gini");
  std::vector<double> g(6);
  gini.read(g.data(), H5::PredType::NATIVE_DOUBLE);
  CHECK(g[0] == doctest::Approx(0.75));
  CHECK(g[3] == doctest::Approx(0.0));
  CHECK(std::isnan(g[4]));  // failed: parameters but no outputs
}

TEST_CASE("a step whose stdout is not JSON fails the scenario with a hint") {
  fs::path dir = moesim::testing::scratch_subdir("nojson");
  std::ofstream(dir / "s.yaml") << R"(
steps:
  synth: moesim trace synth --layers 1 --experts 4 --top-k 1 --tokens 10 --out {dir}/t.h5 --quiet
)";
  SweepSpec spec = load_sweep_file(dir / "s.yaml");
  auto grid = expand_grid(spec);
  RunSummary r = run_scenarios(spec, grid, options_for(dir / "out"));
  CHECK(r.failed == 1);
  json res = read_json(result_path(dir / "out", grid[0].id));
  CHECK(res["error"] == "stdout is not JSON (add --json to the step's command)");
}

TEST_CASE("flattening keeps nested scalars and leaves arrays out") {
  json row = json::object();
  flatten_scalars(json::parse(R"({"a": {"b": 1, "c": [1, 2], "d": {"e": "x"}}, "f": true, "g": null})"), "s", row);
  CHECK(row == json::parse(R"({"s.a.b": 1, "s.a.d.e": "x", "s.f": 1})"));
}

TEST_CASE("collect names the folder when it is not a sweep") {
  fs::path dir = moesim::testing::scratch_subdir("collect");
  CHECK_THROWS_WITH_AS(collect_table(dir), doctest::Contains("sweep.json: no such file"), moesim::InputError);
}

TEST_CASE("a platform key as an axis: each scenario's derived platform extends the base with the override") {
  fs::path out = moesim::testing::scratch_subdir("platform") / "out";
  SweepSpec spec = load_sweep_file(fs::path(MOESIM_SOURCE_DIR) / "analysis/examples/nic-bandwidth.sweep.yaml");
  auto grid = expand_grid(spec);
  REQUIRE(grid.size() == 3);
  write_sweep_index(spec, grid, out);
  RunSummary r = run_scenarios(spec, grid, options_for(out));
  REQUIRE(r.ok == 3);
  ResultsTable table = collect_table(out);
  // One NIC per GPU: a GPU's scale-out injection is the NIC's bandwidth, bits / 8 per byte.
  const double expected_Bps[] = {100e9 / 8, 200e9 / 8, 400e9 / 8};
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(table.rows[i]["inspect.scaleout_injection_Bps.max"].get<double>() == doctest::Approx(expected_Bps[i]));
    CHECK(table.rows[i]["inspect.gpus"] == 16);  // the rest comes from the base file (2 nodes x 8 GPUs)
  }
}

TEST_CASE("a key inside a list as an axis: fat-tree leaf oversubscription (the base file writes the list)") {
  fs::path dir = moesim::testing::scratch_subdir("oversub");
  // Two nodes of 8 NICs on radix-16 leaves: one node per leaf, 8 ports down and 8 / 4 / 2 up.
  std::ofstream(dir / "ft.yaml") << R"(
extends: fat-tree-256
nodes: 2
scale_out:
  switch_radix: 16
  tiers:
    - {link_latency: 15ns, switch_latency: 130ns, oversubscription: 1:1}
    - {link_latency: 50ns, switch_latency: 130ns}
)";
  std::ofstream(dir / "s.yaml") << R"(
parameters: {platform: ft.yaml}
axes: {platform.scale_out.tiers.0.oversubscription: [1, 2, 4]}
steps:
  inspect: moesim topo inspect {platform} --json
)";
  SweepSpec spec = load_sweep_file(dir / "s.yaml");
  auto grid = expand_grid(spec);
  REQUIRE(grid.size() == 3);
  write_sweep_index(spec, grid, dir / "out");
  RunSummary r = run_scenarios(spec, grid, options_for(dir / "out"));
  REQUIRE(r.ok == 3);
  ResultsTable table = collect_table(dir / "out");
  // Fewer uplinks per leaf: the bisection shrinks by the ratio, the network's oversubscription grows by it.
  const double base = table.rows[0]["inspect.oversubscription"].get<double>();
  CHECK(base == doctest::Approx(1.0));
  CHECK(table.rows[1]["inspect.oversubscription"].get<double>() == doctest::Approx(2 * base));
  CHECK(table.rows[2]["inspect.oversubscription"].get<double>() == doctest::Approx(4 * base));
  // The second tier comes through unchanged: the list was copied whole.
  YAML::Node derived = YAML::LoadFile((scenario_dir(dir / "out", grid[1]) / "platform.yaml").string());
  CHECK(derived["scale_out"]["tiers"][1]["link_latency"].as<std::string>() == "50ns");
  CHECK(derived["scale_out"]["tiers"][0]["oversubscription"].as<std::string>() == "2");

  // A base that does not write the list itself (a preset) is refused with the reason.
  std::ofstream(dir / "bad.yaml") << R"(
parameters: {platform: fat-tree-256}
axes: {platform.scale_out.tiers.0.oversubscription: [2]}
steps:
  inspect: moesim topo inspect {platform} --json
)";
  SweepSpec bad = load_sweep_file(dir / "bad.yaml");
  auto bad_grid = expand_grid(bad);
  RunSummary b = run_scenarios(bad, bad_grid, options_for(dir / "bad_out"));
  CHECK(b.failed == 1);
  json failed = read_json(result_path(dir / "bad_out", bad_grid[0].id));
  CHECK(failed["error"].get<std::string>().find("overrides an element of the list 'scale_out.tiers'") != std::string::npos);
}

TEST_CASE("--timeout-s kills a scenario that runs too long and records it; the others finish") {
  fs::path dir = moesim::testing::scratch_subdir("timeout");
  // 2^22 tokens x 16 layers takes seconds; 64 tokens takes milliseconds.
  std::ofstream(dir / "s.yaml") << R"(
axes: {tokens: [64, 4194304]}
steps:
  synth: moesim trace synth --layers 16 --experts 8 --top-k 2 --tokens {tokens} --out {dir}/t.h5 --json --quiet
)";
  SweepSpec spec = load_sweep_file(dir / "s.yaml");
  auto grid = expand_grid(spec);
  RunOptions o = options_for(dir / "out");
  o.timeout_s = 3;  // the small one needs ~0.1 s on an idle machine, the large one tens of seconds
  RunSummary r = run_scenarios(spec, grid, o);
  CHECK(r.ok == 1);
  CHECK(r.failed == 1);
  json slow = read_json(result_path(dir / "out", grid[1].id));
  CHECK(slow["status"] == "failed");
  CHECK(slow["error"] == "timed out after 3 s (--timeout-s)");
  CHECK(slow["wall_s"].get<double>() < 10.0);
}

// Regression: two sweeps on one folder raced over its result files (one reported "stdout is not
// JSON", the other "8 ran ok" over a table with failed rows). Now the second refuses at once.
TEST_CASE("a sweep folder is locked: a second sweep refuses, array tasks and collect share it") {
  using moesim::analysis::SweepFolderLock;
  const auto out = moesim::testing::scratch_path("locked_sweep");
  fs::remove_all(out);
  {
    SweepFolderLock first(out, SweepFolderLock::Mode::exclusive);
    CHECK_THROWS_WITH_AS(SweepFolderLock(out, SweepFolderLock::Mode::exclusive),
                         doctest::Contains("another moesim sweep is running in this folder"), std::runtime_error);
    CHECK_THROWS_AS(SweepFolderLock(out, SweepFolderLock::Mode::shared), std::runtime_error);
  }
  {
    SweepFolderLock task_a(out, SweepFolderLock::Mode::shared);
    SweepFolderLock task_b(out, SweepFolderLock::Mode::shared);
    CHECK_THROWS_AS(SweepFolderLock(out, SweepFolderLock::Mode::exclusive), std::runtime_error);
  }
  SweepFolderLock again(out, SweepFolderLock::Mode::exclusive);  // released with the objects
}
