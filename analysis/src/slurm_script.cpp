// `moesim sweep --slurm`: the job-array script (see slurm_script.hpp).
#include "moesim/analysis/slurm_script.hpp"

#include <fmt/format.h>

namespace moesim::analysis {

std::size_t slurm_tasks(const SlurmOptions& o) {
  const std::size_t chunk = std::max<std::size_t>(1, o.chunk_size);
  return (o.scenarios + chunk - 1) / chunk;
}

std::string shell_quote(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_./:=@%+,-").find(c) != std::string_view::npos);
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string slurm_array_script(const SlurmOptions& o) {
  const std::size_t tasks = slurm_tasks(o);
  const std::string out = o.out_dir.string();
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Written by `moesim sweep --slurm` for sweep {}: {} scenarios in {} array tasks of up to {}.\n",
                   o.job_name, o.scenarios, tasks, o.chunk_size);
  s += "# Submit:  sbatch " + shell_quote(out + "/sweep.sbatch") + "\n";
  s += "# Then:    moesim sweep collect " + shell_quote(out) + "   (merges results.csv / results.h5)\n";
  s += "# A task that is rerun skips the scenarios already done; failed ones are retried.\n";
  s += "#SBATCH --job-name=" + shell_quote("moesim-" + o.job_name) + "\n";
  s += fmt::format("#SBATCH --array=0-{}\n", tasks == 0 ? 0 : tasks - 1);
  s += fmt::format("#SBATCH --ntasks=1\n#SBATCH --cpus-per-task={}\n", o.cpus_per_task);
  s += "#SBATCH --output=" + shell_quote(out + "/slurm/%A_%a.log") + "\n";
  for (const auto& opt : o.sbatch_options) s += "#SBATCH " + opt + "\n";
  s += "set -euo pipefail\n";
  s += fmt::format("exec {} sweep {} --out {} --task \"$SLURM_ARRAY_TASK_ID\" --chunk-size {} --jobs \"${{SLURM_CPUS_PER_TASK:-1}}\" --no-table --quiet\n",
                   shell_quote(o.moesim_exe.string()), shell_quote(o.sweep_file.string()), shell_quote(out),
                   o.chunk_size);
  return s;
}

}  // namespace moesim::analysis
