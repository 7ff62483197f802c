#include "moesim/common/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

namespace moesim {
using Clock = std::chrono::steady_clock;

Progress::Progress(std::string label, std::uint64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0), start_(Clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (enabled_ && !finished_ && done_ > 0 && tty_) std::fputc('\n', stderr);
}

void Progress::advance(std::uint64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = Clock::now();
  if (tty_) {
    if (now - last_draw_ >= std::chrono::milliseconds(100)) draw(false), last_draw_ = now;
  } else if (total_ > 0) {
    int decile = static_cast<int>(10 * done_ / total_);
    if (decile != last_decile_ && done_ < total_) draw(false), last_decile_ = decile;  // finish() prints 100%
  }
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final_line) {
  double elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
  double rate = elapsed_s > 0 ? static_cast<double>(done_) / elapsed_s : 0.0;
  std::string line;
  if (total_ > 0) {
    double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    constexpr int kBarWidth = 24;
    int filled = static_cast<int>(frac * kBarWidth);
    double eta_s = rate > 0 ? static_cast<double>(total_ - std::min(done_, total_)) / rate : 0.0;
    line = fmt::format("{} [{}{}] {:3.0f}% {:.3g} {}/s ETA {:.0f}s", label_, std::string(filled, '#'),
                       std::string(kBarWidth - filled, '.'), 100 * frac, rate, unit_, eta_s);
  } else {
    line = fmt::format("{} {} {} {:.3g} {}/s", label_, done_, unit_, rate, unit_);
  }
  if (final_line) line += fmt::format(" done in {:.2f}s", elapsed_s);
  if (tty_) {
    fmt::print(stderr, "\r\033[K{}{}", line, final_line ? "\n" : "");
  } else {
    fmt::print(stderr, "{}\n", line);
  }
  std::fflush(stderr);
}

}  // namespace moesim
