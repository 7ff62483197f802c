// The Slurm job-array script: task count, array range and the per-task command line.
#include <doctest/doctest.h>

#include "moesim/analysis/slurm_script.hpp"

using namespace moesim::analysis;

TEST_CASE("scenarios are cut into ceil(n / chunk) array tasks, each running its chunk with --task") {
  SlurmOptions o;
  o.moesim_exe = "/opt/moesim/bin/moesim";
  o.sweep_file = "/home/me/my study.yaml";
  o.out_dir = "/scratch/run";
  o.job_name = "study";
  o.scenarios = 10;
  o.chunk_size = 4;
  o.cpus_per_task = 2;
  o.sbatch_options = {"--partition=short", "--time=00:10:00"};
  CHECK(slurm_tasks(o) == 3);
  std::string s = slurm_array_script(o);
  CHECK(s.rfind("#!/bin/bash\n", 0) == 0);
  CHECK(s.find("#SBATCH --array=0-2\n") != std::string::npos);
  CHECK(s.find("#SBATCH --cpus-per-task=2\n") != std::string::npos);
  CHECK(s.find("#SBATCH --output=/scratch/run/slurm/%A_%a.log\n") != std::string::npos);
  CHECK(s.find("#SBATCH --partition=short\n#SBATCH --time=00:10:00\n") != std::string::npos);
  CHECK(s.find("exec /opt/moesim/bin/moesim sweep '/home/me/my study.yaml' --out /scratch/run --task "
               "\"$SLURM_ARRAY_TASK_ID\" --chunk-size 4") != std::string::npos);
  o.chunk_size = 5;
  CHECK(slurm_tasks(o) == 2);
  o.chunk_size = 1;
  CHECK(slurm_tasks(o) == 10);
}

TEST_CASE("shell quoting leaves plain words alone and survives single quotes") {
  CHECK(shell_quote("/a/b-c_d.yaml") == "/a/b-c_d.yaml");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("") == "''");
}
