#pragma once
// A progress line on stderr for long jobs: "label  [#####.....]  52%  1.2e6 tokens/s  ETA 12s".
// Redrawn at most 10 times a second on a terminal; when stderr is not a terminal it prints a plain
// line every 10 % so that logs of batch jobs stay short. Disabled entirely by --quiet.
#include <chrono>
#include <cstdint>
#include <string>

namespace moesim {

class Progress {
 public:
  Progress(std::string label, std::uint64_t total, std::string unit, bool enabled = true);
  ~Progress();
  void advance(std::uint64_t n = 1);
  void finish();

 private:
  void draw(bool final_line);
  std::string label_, unit_;
  std::uint64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace moesim
