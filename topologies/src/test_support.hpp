#pragma once
// Test helpers: platform files in scratch space, and SimGrid runs in a forked child (SimGrid allows one
// engine per process, and a test must not leave global state behind for the next one).
#include <doctest/doctest.h>
#include <simgrid/s4u.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "moesim/testing/scratch.hpp"
#include "moesim/topologies/simgrid_platform.hpp"

namespace moesim::topologies::testing {

using moesim::testing::scratch_file;

inline std::filesystem::path preset(const std::string& name) {
  return std::filesystem::path(MOESIM_SOURCE_DIR) / "platforms" / (name + ".yaml");
}

// Runs `body` in a child process and returns what it wrote (a line of text), or "error: ..." .
inline std::string in_child(const std::function<std::string()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::fflush(nullptr);  // else the child inherits and re-prints the parent's buffered output
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {
      out = body();
    } catch (const std::exception& e) {
      out = std::string("error: ") + e.what();
    }
    (void)!::write(fds[1], out.data(), out.size());
    ::close(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return "error: child crashed";
  return out;
}

struct Flow {
  int src, dst;
  double bytes;
};

inline std::vector<double> parse_numbers(const std::string& text) {
  std::vector<double> values;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t used = 0;
    values.push_back(std::stod(text.substr(pos), &used));
    pos += used;
    while (pos < text.size() && text[pos] == ' ') ++pos;
  }
  return values;
}

// Loads the platform in a fresh engine, starts every flow at t=0 and returns each flow's completion
// time. `inspect` may read the loaded platform (its numbers are appended after the times).
inline std::vector<double> simulate_flows(const std::filesystem::path& platform, const std::vector<Flow>& flows) {
  std::string out = in_child([&] {
    int argc = 1;
    char name[] = "moesim-test";
    char* argv[] = {name, nullptr};
    simgrid::s4u::Engine engine(&argc, argv);
    SimgridPlatform p = load_simgrid_platform(platform, engine);
    std::vector<double> done(flows.size(), -1.0);
    simgrid::s4u::Actor::create("driver", p.gpus[0], [&] {
      std::vector<simgrid::s4u::CommPtr> live;
      std::vector<std::size_t> flow_of;
      for (std::size_t i = 0; i < flows.size(); ++i) {
        live.push_back(simgrid::s4u::Comm::sendto_async(p.gpus[static_cast<std::size_t>(flows[i].src)],
                                                        p.gpus[static_cast<std::size_t>(flows[i].dst)], flows[i].bytes));
        flow_of.push_back(i);
      }
      while (!live.empty()) {
        auto k = static_cast<std::size_t>(simgrid::s4u::Comm::wait_any(live));
        done[flow_of[k]] = simgrid::s4u::Engine::get_clock();
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        flow_of.erase(flow_of.begin() + static_cast<std::ptrdiff_t>(k));
      }
    });
    engine.run();
    std::string text;
    for (double t : done) text += fmt::format("{:.17g} ", t);
    return text;
  });
  if (out.rfind("error:", 0) == 0) FAIL(out);
  return parse_numbers(out);
}

// The platform's figures as SimgridPlatform reports them, loaded in a child process.
inline std::string platform_error(const std::filesystem::path& platform) {
  return in_child([&] {
    int argc = 1;
    char name[] = "moesim-test";
    char* argv[] = {name, nullptr};
    simgrid::s4u::Engine engine(&argc, argv);
    load_simgrid_platform(platform, engine);
    return std::string("ok");
  });
}

}  // namespace moesim::topologies::testing
