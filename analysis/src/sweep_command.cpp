// moesim sweep SWEEP.yaml | moesim sweep --slurm | moesim sweep collect OUT
#include <fmt/format.h>

#include <thread>

#include "moesim/analysis/commands.hpp"
#include "moesim/analysis/results_table.hpp"
#include "moesim/analysis/slurm_script.hpp"
#include "moesim/analysis/sweep_runner.hpp"
#include "moesim/analysis/sweep_spec.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"

namespace moesim::analysis {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct SweepArgs {
  std::string file, out;
  int jobs = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  bool dry_run = false, keep_failed = false, force = false, slurm = false, no_table = false, json = false, quiet = false;
  std::size_t chunk_size = 1;
  long task = -1;
  double timeout_s = 0;
  std::vector<std::string> sbatch_options, sets, show;
};

struct CollectArgs {
  std::string out;
  std::vector<std::string> show;
  bool json = false;
};

// Workers run the very binary that runs the sweep, wherever it was started from.
fs::path this_executable() { return fs::read_symlink("/proc/self/exe"); }

struct TableCounts {
  std::size_t ok = 0, failed = 0, missing = 0;
};

// --show a,b,c: those columns as an aligned text table (numbers to 4 significant digits).
void print_columns(const ResultsTable& table, const std::vector<std::string>& show) {
  for (const auto& c : show)
    if (std::find(table.columns.begin(), table.columns.end(), c) == table.columns.end())
      throw InputError(fmt::format("--show: no column '{}' in the results table (see the header of results.csv)", c));
  std::vector<std::vector<std::string>> cells{show};
  for (const auto& row : table.rows) {
    std::vector<std::string> line;
    for (const auto& c : show) {
      auto it = row.find(c);
      line.push_back(it == row.end() || it->is_null() ? "-"
                     : it->is_number_integer()        ? std::to_string(it->get<std::int64_t>())
                     : it->is_number()                ? fmt::format("{:.4g}", it->get<double>())
                     : it->is_string()                ? it->get<std::string>()
                                                      : it->dump());
    }
    cells.push_back(std::move(line));
  }
  std::vector<std::size_t> width(show.size(), 0);
  for (const auto& line : cells)
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  for (const auto& line : cells) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) text += fmt::format("{:<{}}  ", line[i], width[i]);
    fmt::print("{}\n", text.substr(0, text.find_last_not_of(' ') + 1));
  }
}

TableCounts write_tables(const fs::path& out_dir, const std::string& name, const std::vector<std::string>& show = {}) {
  ResultsTable table = collect_table(out_dir);
  if (!show.empty()) print_columns(table, show);
  write_csv(table, out_dir / "results.csv");
  write_hdf5(table, out_dir / "results.h5", name);
  TableCounts c;
  for (const auto& row : table.rows) {
    const auto status = row["status"].get<std::string>();
    (status == "ok" ? c.ok : status == "failed" ? c.failed : c.missing)++;
  }
  return c;
}

void print_dry_run(const std::vector<Scenario>& grid, bool as_json) {
  json list = json::array();
  for (const auto& s : grid) {
    json steps = json::array();  // in run order
    for (const auto& step : s.steps) {
      std::string line;
      for (const auto& w : step.words) line += (line.empty() ? "" : " ") + shell_quote(w);
      steps.push_back({{"name", step.name}, {"command", line}});
    }
    list.push_back({{"index", s.index}, {"id", s.id}, {"params", params_json(s.params)}, {"steps", steps}});
  }
  if (as_json) return cli::print_json({{"scenarios", list}});
  for (const auto& s : list) {
    fmt::print("scenario {} ({}): {}\n", s["index"].get<std::size_t>(), s["id"].get<std::string>(), s["params"].dump());
    for (const auto& step : s["steps"])
      fmt::print("  {}: {}\n", step["name"].get<std::string>(), step["command"].get<std::string>());
  }
}

int run_slurm(const SweepArgs& a, const SweepSpec& spec, const std::vector<Scenario>& grid, const fs::path& out) {
  SlurmOptions o;
  o.moesim_exe = this_executable();
  o.sweep_file = spec.file;
  o.out_dir = fs::absolute(out);
  o.job_name = spec.name;
  o.scenarios = grid.size();
  o.chunk_size = a.chunk_size;
  o.cpus_per_task = a.jobs;
  o.sbatch_options = a.sbatch_options;
  fs::create_directories(out / "slurm");  // Slurm does not create the folder of --output
  write_sweep_index(spec, grid, out);
  const fs::path script = out / "sweep.sbatch";
  write_file_atomically(script, slurm_array_script(o));
  fs::permissions(script, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
  // Slurm's default MaxArraySize is 1001: a bigger array is refused at submission.
  constexpr std::size_t kDefaultMaxArrayTasks = 1000;
  if (slurm_tasks(o) > kDefaultMaxArrayTasks)
    fmt::print(stderr, "sweep: warning: {} array tasks; many clusters allow at most {} (raise --chunk-size)\n",
               slurm_tasks(o), kDefaultMaxArrayTasks);
  if (a.json)
    cli::print_json({{"script", script.string()}, {"scenarios", grid.size()}, {"tasks", slurm_tasks(o)},
                     {"chunk_size", a.chunk_size}, {"out", out.string()}});
  else
    fmt::print("wrote {} ({} scenarios in {} array tasks)\nsubmit: sbatch {}\nthen:   moesim sweep collect {}\n",
               script.string(), grid.size(), slurm_tasks(o), script.string(), out.string());
  return kExitOk;
}

int run_sweep(const SweepArgs& a) {
  if (a.file.empty()) throw InputError("sweep: give a sweep file (moesim sweep SWEEP.yaml) or `moesim sweep collect OUT`");
  if (a.jobs < 1) throw InputError("--jobs must be at least 1");
  if (a.chunk_size < 1) throw InputError("--chunk-size must be at least 1");
  SweepSpec spec = load_sweep_file(a.file, a.sets);
  std::vector<Scenario> grid = expand_grid(spec);
  const fs::path out = a.out.empty() ? fs::path("sweep-" + spec.name) : fs::path(a.out);
  if (a.dry_run) return print_dry_run(grid, a.json), kExitOk;
  // One sweep per folder at a time (array tasks of one Slurm sweep share it): held to the end,
  // results table included.
  SweepFolderLock lock(out, a.task >= 0 ? SweepFolderLock::Mode::shared : SweepFolderLock::Mode::exclusive);
  if (a.slurm) return run_slurm(a, spec, grid, out);

  RunOptions options;
  options.out_dir = fs::absolute(out);
  options.moesim_exe = this_executable();
  options.jobs = a.jobs;
  options.retry_failed = !a.keep_failed;
  options.rerun_all = a.force;
  options.timeout_s = a.timeout_s;
  options.progress = !a.quiet;
  if (a.task >= 0) {
    options.first = static_cast<std::size_t>(a.task) * a.chunk_size;
    options.count = a.chunk_size;
    if (options.first >= grid.size())
      throw InputError(fmt::format("--task {}: the grid has only {} scenarios ({} tasks of {})", a.task, grid.size(),
                                   (grid.size() + a.chunk_size - 1) / a.chunk_size, a.chunk_size));
  } else {
    write_sweep_index(spec, grid, options.out_dir);
  }
  RunSummary run = run_scenarios(spec, grid, options);
  json result = {{"sweep", spec.name},       {"out", out.string()},   {"scenarios", grid.size()},
                 {"selected", run.selected}, {"skipped", run.skipped}, {"ok", run.ok},
                 {"failed", run.failed}};
  if (!a.no_table && a.task < 0) {
    TableCounts c = write_tables(options.out_dir, spec.name, a.json ? std::vector<std::string>{} : a.show);
    result["table"] = {{"csv", (out / "results.csv").string()}, {"hdf5", (out / "results.h5").string()},
                       {"ok", c.ok}, {"failed", c.failed}, {"missing", c.missing}};
  }
  if (a.json) {
    cli::print_json(result);
  } else {
    fmt::print("sweep {}: {} scenarios, {} selected: {} ran ok, {} failed, {} already done\n", spec.name, grid.size(),
               run.selected, run.ok, run.failed, run.skipped);
    if (result.contains("table")) fmt::print("results: {}/results.csv, {}/results.h5\n", out.string(), out.string());
  }
  return run.failed == 0 ? kExitOk : kExitFailure;
}

int run_collect(const CollectArgs& a) {
  if (!fs::is_directory(a.out)) throw InputError(located(a.out, "no such folder (the --out folder of a sweep)"));
  SweepFolderLock lock(a.out, SweepFolderLock::Mode::shared);  // not while a sweep still writes results
  json index;
  {
    std::ifstream f(fs::path(a.out) / "sweep.json");
    index = json::parse(f, nullptr, false);
  }
  std::string name = index.is_object() ? index.value("name", "sweep") : "sweep";
  TableCounts c = write_tables(a.out, name, a.json ? std::vector<std::string>{} : a.show);
  const std::size_t total = c.ok + c.failed + c.missing;
  if (a.json)
    cli::print_json({{"sweep", name}, {"scenarios", total}, {"ok", c.ok}, {"failed", c.failed},
                     {"missing", c.missing}, {"csv", (fs::path(a.out) / "results.csv").string()},
                     {"hdf5", (fs::path(a.out) / "results.h5").string()}});
  else
    fmt::print("sweep {}: {} scenarios: {} ok, {} failed, {} missing\nresults: {}/results.csv, {}/results.h5\n", name,
               total, c.ok, c.failed, c.missing, a.out, a.out);
  return c.failed == 0 && c.missing == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void register_sweep_command(cli::Commands& commands, CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  CLI::App* sweep = commands.add(
      app, "sweep",
      "Run a grid of scenarios from a sweep file in parallel worker processes (resumable); or write a "
      "Slurm job array (--slurm)",
      "moesim sweep analysis/examples/imbalance.sweep.yaml --out runs/imbalance --jobs 2 && "
      "moesim report runs/imbalance --out report.html",
      [a]() { return run_sweep(*a); });
  sweep->add_option("file", a->file, "Sweep file (YAML: name, parameters, axes, steps)");
  sweep->add_option("-o,--out", a->out, "Output folder (default: sweep-<name>); a rerun resumes in it");
  sweep->add_option("-j,--jobs", a->jobs, "Worker processes at once (Slurm: CPUs per array task)")->check(cli::positive<decltype(a->jobs)>())->capture_default_str();
  sweep->add_flag("--dry-run", a->dry_run, "List the scenarios and their command lines; run nothing");
  sweep->add_flag("--keep-failed", a->keep_failed, "Do not rerun scenarios whose last run failed");
  sweep->add_option("--timeout-s", a->timeout_s, "Kill a scenario running longer than this and record it as failed (0: no limit)")
      ->check(cli::non_negative<decltype(a->timeout_s)>())
      ->capture_default_str();
  sweep->add_flag("--force", a->force, "Rerun every scenario, even those already done (e.g. after rebuilding moesim)");
  sweep->add_flag("--no-table", a->no_table, "Do not write results.csv / results.h5 at the end");
  sweep->add_flag("--slurm", a->slurm, "Write OUT/sweep.sbatch (a Slurm job array) instead of running");
  sweep->add_option("--chunk-size", a->chunk_size, "Scenarios per Slurm array task")->check(cli::positive<decltype(a->chunk_size)>())->capture_default_str();
  sweep->add_option("--sbatch-option", a->sbatch_options,
                    "Extra #SBATCH line for --slurm, e.g. --sbatch-option=--partition=short (repeatable)");
  sweep->add_option("--task", a->task, "Run only array task T's chunk of the grid (what the Slurm script calls)")->check(cli::non_negative<decltype(a->task)>());
  sweep->add_option("--set", a->sets, "Fix a parameter: name=value (an axis becomes that one value; repeatable)");
  sweep->add_option("--show", a->show, "Print these result columns as a table at the end, e.g. --show load,stats.mean_over_layers.all.gini")
      ->delimiter(',');
  cli::add_json_flag(sweep, a->json);
  cli::add_quiet_flag(sweep, a->quiet);

  auto c = std::make_shared<CollectArgs>();
  CLI::App* collect = commands.add(
      *sweep, "collect", "Merge the per-scenario results of a sweep folder into results.csv and results.h5",
      "moesim sweep collect runs/imbalance --json", [c]() { return run_collect(*c); });
  collect->add_option("out", c->out, "The sweep's output folder (holds sweep.json)")->required();
  collect->add_option("--show", c->show, "Print these result columns as a table")->delimiter(',');
  cli::add_json_flag(collect, c->json);
}

}  // namespace moesim::analysis
