// This benchmark shows what one all-to-all of 1 MB per GPU pair costs to simulate, for N = 64, 256,
// 1024, 4096 GPUs: wall time, peak memory of the simulation process, and the simulated time next to
// its bandwidth lower bound. Target: a direct 1024-GPU all-to-all in <= 5 s and <= 500 MB,
// a 4096-GPU one in <= 60 s. Each case runs in its own process, killed after a time cap.
//
// Run: build-rel/tests/bench/replay_bench [cap_s=60] [N ...]   (cap: CPU seconds per case)
// Cases, each with an engine: "simgrid-lazy" (one SimGrid comm per flow, CM02, SimGrid's own default
// lazy update), "simgrid-full" (the same with network/optim:Full, the max-min reference and moesim's
// default since 2026-11-26), "simgrid-l07"
// (per-flow direct in SimGrid's L07 model, the reference for direct-ptask) and "fluid" (our max-min
// solver over SimGrid's routes, --engine fluid). On a non-blocking switch: direct, direct-ptask,
// pairwise; on the fat-tree preset of that size: hierarchical, direct, direct-ptask.
// MOESIM_BENCH_ONLY=<algorithm> or <algorithm>/<engine> runs those cases only; MOESIM_BENCH_SKEW=1
// makes every 16th GPU a hot destination (8x the bytes); MOESIM_BENCH_OVERHEAD_US=X adds X us per message;
// MOESIM_BENCH_MEMORY_GB=G caps each case's address space at G GB (default 6).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "moesim/common/malloc_huge_pages.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/sim/simulation.hpp"

using namespace moesim::sim;

namespace {

constexpr double kBytesPerPair = 1e6;
// Address space a case may take (MOESIM_BENCH_MEMORY_GB overrides; virtual, so reserved but
// untouched memory counts too).
rlim_t memory_cap_bytes() {
  const char* gb = std::getenv("MOESIM_BENCH_MEMORY_GB");
  return static_cast<rlim_t>((gb ? std::atof(gb) : 6.0) * (1u << 30));
}

// Presets of platforms/ with 8 GPUs per node on a fat-tree, by size.
std::string fat_tree_preset(int n) {
  switch (n) {
    case 64: return "rail-optimized-64";
    case 256: return "fat-tree-256";
    case 1024: return "fat-tree-1024-3tier";
    case 4096: return "fat-tree-4096-3tier";
    default: return "";
  }
}

// MOESIM_BENCH_SKEW=1: every 16th GPU is a hot destination receiving 8x the bytes.
bool skewed() {
  static const bool on = std::getenv("MOESIM_BENCH_SKEW") != nullptr;  // read once: it was asked per GPU pair
  return on;
}

void run_case(const std::string& platform_text, int n, const std::string& algorithm, const std::string& engine,
              int cap_s) {
  // MOESIM_BENCH_ONLY=direct (say) runs the cases of that algorithm only, direct/fluid one case.
  if (const char* only = std::getenv("MOESIM_BENCH_ONLY"); only && algorithm != only && algorithm + "/" + engine != only)
    return;
  auto m = TrafficMatrix::zeros(n);
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d)
      if (s != d) m.at(s, d) = kBytesPerPair * (skewed() && d % 16 == 0 ? 8 : 1);
  ReplayOptions options;
  options.algorithm = &find_algorithm(algorithm);
  options.engine = engine == "fluid" ? NetworkEngine::kFluid : NetworkEngine::kSimgrid;
  options.balanced_reference = false;  // uniform: the balanced run is the run itself
  // MOESIM_BENCH_OVERHEAD_US=1: a per-message software overhead (each GPU's k-th message starts k us later).
  if (const char* us = std::getenv("MOESIM_BENCH_OVERHEAD_US")) options.a2a.per_message_overhead_s = std::atof(us) * 1e-6;
  // Parallel tasks need SimGrid's L07 host model ("simgrid-l07" runs per-flow direct under it, the
  // per-flow reference for direct-ptask); "simgrid-full" is SimGrid's full max-min update.
  if (engine == "simgrid-l07") ::setenv("MOESIM_SIMGRID_CFG", "host/model:ptask_L07", 1);
  if (engine == "simgrid-full") ::setenv("MOESIM_SIMGRID_CFG", "network/optim:Full", 1);
  if (engine == "simgrid-lazy") ::setenv("MOESIM_SIMGRID_CFG", "network/optim:Lazy", 1);
  auto t0 = std::chrono::steady_clock::now();
  try {
    auto r = run_simulation(moesim::topologies::parse_platform_source(platform_text), n, [&](FlowNetwork& net) {
      // A case that cannot finish is killed, not waited for. The cap is CPU time: on a shared,
      // loaded machine wall time says more about the neighbours than about the simulation.
      rlimit cpu{static_cast<rlim_t>(cap_s), static_cast<rlim_t>(cap_s)};
      ::setrlimit(RLIMIT_CPU, &cpu);
      rlimit memory{memory_cap_bytes(), memory_cap_bytes()};  // and one that cannot fit fails instead of swapping the machine
      ::setrlimit(RLIMIT_AS, &memory);
      ReplayEngine engine(net, n, options);
      LayerWork w;
      w.dispatch = m;
      w.combine = m;  // identical: answered from the first simulation
      engine.replay_layer(w);
      return std::move(engine.result());
    });
    const auto& a = r.a2a_rows.at(0);
    std::printf("%5d  %-20s %-13s %-12s %10llu %9.2f %9.2f %9.0f %14.6f %12.6f %7.3f\n", n, platform_text.c_str(),
                algorithm.c_str(), engine.c_str(), static_cast<unsigned long long>(r.flows_simulated), r.sim_wall_s,
                r.sim_cpu_s, r.sim_peak_rss_bytes / 1048576.0, a.time_s * 1e3, a.bound_s * 1e3, a.time_s / a.bound_s);
  } catch (const std::exception& e) {  // killed by the cap, out of memory, or a platform error
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%5d  %-20s %-13s %-12s %10s %9.1f %9s %9s  not finished: %s\n", n, platform_text.c_str(),
                algorithm.c_str(), engine.c_str(), "-", wall, "-", "-", e.what());
  }
  ::unsetenv("MOESIM_SIMGRID_CFG");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // Large arrays on huge pages, as `moesim` runs its back ends (malloc_huge_pages.hpp); glibc reads
  // the tunable when a program starts, so this process starts again with it (if that fails: as is).
  if (moesim::request_malloc_huge_pages()) ::execv("/proc/self/exe", argv);
  int cap_s = argc > 1 ? std::stoi(argv[1]) : 60;
  std::vector<int> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {64, 256, 1024, 4096};
  std::printf("one all-to-all, %.0f MB per GPU pair; wall and RSS of the simulation process (platform build included)\n",
              kBytesPerPair / 1e6);
  std::printf("%5s  %-20s %-13s %-12s %10s %9s %9s %9s %14s %12s %7s\n", "N", "platform", "algorithm", "engine",
              "flows", "wall s", "CPU s", "RSS MB", "simulated ms", "bound ms", "ratio");
  for (int n : sizes) {
    std::string sw = "switch:" + std::to_string(n);
    run_case(sw, n, "direct", "fluid", cap_s);
    run_case(sw, n, "direct", "simgrid-lazy", cap_s);
    run_case(sw, n, "direct", "simgrid-full", cap_s);
    run_case(sw, n, "direct-ptask", "simgrid-l07", cap_s);
    run_case(sw, n, "pairwise", "fluid", cap_s);
    run_case(sw, n, "pairwise", "simgrid-lazy", cap_s);
    std::string preset = fat_tree_preset(n);
    if (preset.empty()) continue;
    run_case(preset, n, "direct", "fluid", cap_s);
    run_case(preset, n, "direct", "simgrid-lazy", cap_s);
    run_case(preset, n, "direct", "simgrid-full", cap_s);
    run_case(preset, n, "direct-ptask", "simgrid-l07", cap_s);
    run_case(preset, n, "hierarchical", "fluid", cap_s);
    run_case(preset, n, "hierarchical", "simgrid-lazy", cap_s);
  }
}
