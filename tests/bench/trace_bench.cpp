// This benchmark shows how fast traces are written and how fast `trace stats` streams them:
// 32 layers x 1,048,576 tokens x top-2 (67 M expert ids), printing expert-ids/s and peak RSS.
// Target: stats >= 100 M expert-ids/s on one core, memory bounded by the chunk size.
// Also the cost of opening with the crash-isolating check (a forked child reads the structure
// first) against an in-process open only, as a ratio.
// Run: build/tests/bench/trace_bench [tokens] [dir]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "moesim/traces/synth.hpp"
#include "moesim/traces/trace_reader.hpp"
#include "moesim/traces/trace_stats.hpp"

namespace {
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  using namespace moesim::traces;
  SynthOptions o;
  o.layers = 32;
  o.experts = 64;
  o.top_k = 2;
  o.tokens = argc > 1 ? std::stoull(argv[1]) : 1048576;
  o.steps = 16;
  o.load = LoadModel::kZipf;
  o.zipf_s = 1.0;
  std::filesystem::path dir = argc > 2 ? argv[2] : std::filesystem::temp_directory_path();
  std::filesystem::path file = dir / "moesim_trace_bench.h5";
  const double ids = static_cast<double>(o.tokens) * o.layers * o.top_k;

  auto t0 = std::chrono::steady_clock::now();
  write_synthetic_trace(file, o, "trace_bench");
  double write_s = seconds_since(t0);
  double rss_after_write = peak_rss_mib();

  std::printf("trace: %d layers x %llu tokens x top-%d = %.3g expert ids, file %.1f MiB\n", o.layers,
              static_cast<unsigned long long>(o.tokens), o.top_k, ids,
              static_cast<double>(std::filesystem::file_size(file)) / (1 << 20));
  std::printf("write (synth + HDF5): %.2f s  %.3g expert-ids/s  peak RSS %.0f MiB\n", write_s, ids / write_s,
              rss_after_write);
  std::fflush(stdout);

  // Stats in a fresh child process, so that its peak RSS is its own and not the writer's.
  pid_t child = fork();
  if (child == 0) {
    auto t1 = std::chrono::steady_clock::now();
    TraceReader reader(file);
    TraceStats stats = compute_stats(reader, {});
    double stats_s = seconds_since(t1);
    std::printf("stats:                %.3f s  %.3g expert-ids/s  peak RSS %.0f MiB  (mean gini %.4f)\n", stats_s,
                ids / stats_s, peak_rss_mib(), stats.mean_all.gini);
    std::fflush(stdout);
    std::_Exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);

  constexpr int kOpens = 20;
  double open_ms[2] = {0, 0};
  for (int checked = 0; checked < 2; ++checked) {
    auto t2 = std::chrono::steady_clock::now();
    for (int i = 0; i < kOpens; ++i) TraceReader reader(file, {.check_in_child = checked == 1});
    open_ms[checked] = seconds_since(t2) / kOpens * 1e3;
  }
  std::printf("open: %.2f ms in-process only, %.2f ms with the checking child (%.1fx)\n", open_ms[0], open_ms[1],
              open_ms[1] / open_ms[0]);
  std::filesystem::remove(file);
  return 0;
}
