#pragma once
// Runs the scenarios of a sweep in parallel worker processes and keeps one result file per scenario.
//
//   OUT/sweep.json                    the expanded grid (index, id, parameters): what `collect` reads
//   OUT/scenarios/<id>/result.json    written atomically once the scenario ends, ok or failed
//   OUT/scenarios/<id>/<step>.out|.err  each command's stdout (its --json summary) and stderr
//   OUT/scenarios/<id>/<param>.yaml   derived YAML files for overridden keys (extends: the base file)
//
// A rerun skips every scenario whose result.json says "ok" for the same id (the id hashes the
// parameters and the expanded commands, so editing the sweep file reruns exactly what changed; it
// does not hash the moesim binary: after changing moesim, rerun with --force or use a new folder).
#include <cstddef>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "moesim/analysis/sweep_spec.hpp"

namespace moesim::analysis {

struct RunOptions {
  std::filesystem::path out_dir;
  std::filesystem::path moesim_exe;  // what "moesim" at the start of a step runs
  int jobs = 1;                      // worker processes at once
  std::size_t first = 0;             // run only grid[first, first + count) (a Slurm array task's slice)
  std::size_t count = std::numeric_limits<std::size_t>::max();
  bool retry_failed = true;          // rerun scenarios whose last result is "failed"
  bool rerun_all = false;            // rerun even scenarios already ok (e.g. after rebuilding moesim)
  bool progress = true;
  double timeout_s = 0;              // > 0: a scenario running longer is killed and recorded as failed
};

struct RunSummary {
  std::size_t selected = 0, skipped = 0, ok = 0, failed = 0;
};

// An advisory lock (flock) on OUT/.lock for as long as the object lives: a sweep running in OUT
// holds it exclusively, so that a second sweep on the same folder refuses at once instead of
// racing the first over the same result files; Slurm array tasks (--task), which share a folder by
// design, and `sweep collect` hold it shared. The lock goes with the process, even on SIGKILL.
// Throws std::runtime_error (exit 1) naming the folder when another process holds it.
class SweepFolderLock {
 public:
  enum class Mode { exclusive, shared };
  SweepFolderLock(const std::filesystem::path& out_dir, Mode mode);
  ~SweepFolderLock();
  SweepFolderLock(const SweepFolderLock&) = delete;
  SweepFolderLock& operator=(const SweepFolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Writes OUT/sweep.json (atomically) so that `collect` knows the grid even before anything ran.
void write_sweep_index(const SweepSpec& spec, const std::vector<Scenario>& grid, const std::filesystem::path& out_dir);

RunSummary run_scenarios(const SweepSpec& spec, const std::vector<Scenario>& grid, const RunOptions& options);

std::filesystem::path scenario_dir(const std::filesystem::path& out_dir, const Scenario& s);
std::filesystem::path result_path(const std::filesystem::path& out_dir, const std::string& id);

// The parameters as a JSON object: numeric values as numbers, the rest as strings.
nlohmann::json params_json(const std::vector<Param>& params);

}  // namespace moesim::analysis
