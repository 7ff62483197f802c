// This benchmark shows what building a platform costs the replay engine: wall time and memory of
// load_simgrid_platform, and the cost of one route lookup (SimGrid resolves one per flow), for each
// platform given. Each platform is built in a fresh process (one SimGrid engine per process).
//   usage: topologies_bench_platform PLATFORM...   (paths or preset names)
#include <simgrid/s4u.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/simgrid_platform.hpp"

namespace {

constexpr int kRouteSamples = 200'000;

double rss_mib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(line.find(':') + 1)) / 1024.0;
  return 0;
}

void measure(const std::string& given) {
  using clock = std::chrono::steady_clock;
  int argc = 1;
  char name[] = "bench";
  char* argv[] = {name, nullptr};
  simgrid::s4u::Engine engine(&argc, argv);
  const double rss_before = rss_mib("VmRSS");
  auto t0 = clock::now();
  auto platform = moesim::topologies::load_simgrid_platform(moesim::topologies::resolve_platform_path(given), engine);
  const double build_s = std::chrono::duration<double>(clock::now() - t0).count();
  const double rss_after = rss_mib("VmRSS");

  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> pick(0, platform.gpus.size() - 1);
  std::vector<simgrid::s4u::Link*> links;
  double latency = 0;
  std::size_t hops = 0;
  auto t1 = clock::now();
  for (int i = 0; i < kRouteSamples; ++i) {
    links.clear();
    latency = 0;
    platform.gpus[pick(rng)]->route_to(platform.gpus[pick(rng)], links, &latency);
    hops += links.size();
  }
  const double route_us = std::chrono::duration<double, std::micro>(clock::now() - t1).count() / kRouteSamples;
  const double n = static_cast<double>(platform.gpus.size());
  std::printf("%-28s %6zu GPUs  build %7.3f s  RSS +%7.1f MiB (peak %7.1f MiB)  route %5.2f us (%.1f links)  "
              "all N^2 routes ~%6.2f s\n",
              platform.name.c_str(), platform.gpus.size(), build_s, rss_after - rss_before, rss_mib("VmHWM"), route_us,
              static_cast<double>(hops) / kRouteSamples, route_us * 1e-6 * n * (n - 1));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      measure(argv[i]);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::fprintf(stderr, "%s: failed\n", argv[i]);
  }
}
