#pragma once
// Scale-out through Slurm: a job-array script whose task T runs scenarios
// [T*chunk, (T+1)*chunk) of the grid with `moesim sweep --task T`; every task writes per-scenario
// result files into the shared --out folder, and `moesim sweep collect OUT` merges them.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace moesim::analysis {

struct SlurmOptions {
  std::filesystem::path moesim_exe, sweep_file, out_dir;  // absolute: tasks run on other nodes
  std::string job_name;
  std::size_t scenarios = 0;
  std::size_t chunk_size = 1;        // scenarios per array task
  int cpus_per_task = 1;             // worker processes per task (--jobs inside the task)
  std::vector<std::string> sbatch_options;  // extra "#SBATCH ..." lines, e.g. "--partition=short"
};

std::size_t slurm_tasks(const SlurmOptions& o);  // ceil(scenarios / chunk_size)
std::string slurm_array_script(const SlurmOptions& o);

// Quotes a word for bash when it holds anything but [A-Za-z0-9_./:=@%+,-].
std::string shell_quote(const std::string& word);

}  // namespace moesim::analysis
