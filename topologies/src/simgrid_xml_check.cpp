// SimGrid trusts its XML platforms: a file without routes segfaults on the first route lookup
// between zones, a one-way route aborts the simulation when the answer travels back, and a link of
// bandwidth 0 or -5 is taken as given (a message then "takes" its latency only). SimGrid's own
// checks are assertions that kill the process with a backtrace. So the file is first loaded and
// probed in a forked child (common/isolated.hpp): every link's figures, then a route lookup for
// every ordered pair of hosts. The child records which pair it is probing in memory shared with
// the parent, and its stderr goes to a memory file, so that a child killed by SimGrid still gives
// one line saying which route is missing, or SimGrid's own first line.
#include "simgrid_xml_check.hpp"

#include <fmt/format.h>
#include <simgrid/s4u.hpp>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "moesim/common/error.hpp"
#include "moesim/common/isolated.hpp"

namespace sg4 = simgrid::s4u;

namespace moesim::topologies {
namespace {

// What the child is doing, written by the child and read by the parent after the child died.
constexpr std::size_t kMaxNameBytes = 200;
struct Progress {
  int phase = 0;  // kLoading, kProbing
  char src[kMaxNameBytes + 1] = {}, dst[kMaxNameBytes + 1] = {};  // the pair being looked up
};
constexpr int kLoading = 1;
constexpr int kProbing = 2;

void set_name(char (&slot)[kMaxNameBytes + 1], const std::string& name) {
  const std::size_t n = std::min(name.size(), kMaxNameBytes);
  std::copy_n(name.data(), n, slot);
  slot[n] = '\0';
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// file:line:col of the element declaring `id="name"` (SimGrid gives split-duplex links the
// suffixes _UP and _DOWN); just the file when the name is not found as written.
std::string locate_id(const std::filesystem::path& file, const std::string& text, std::string name,
                      const std::string& message) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (const char quote : {'"', '\''}) {
      const std::string needle = std::string("id=") + quote + name + quote;
      const std::size_t at = text.find(needle);
      if (at == std::string::npos) continue;
      const std::size_t element = text.rfind('<', at);
      const std::size_t start = element == std::string::npos ? at : element;
      const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(start), '\n'));
      const std::size_t line_start = text.rfind('\n', start);
      const int col = static_cast<int>(start - (line_start == std::string::npos ? 0 : line_start + 1)) + 1;
      return located(file, line, col, message);
    }
    for (const char* suffix : {"_UP", "_DOWN"})
      if (name.size() > std::string(suffix).size() && name.ends_with(suffix)) name.resize(name.size() - std::string(suffix).size());
  }
  return located(file, message);
}

std::string short_name(const std::string& name) {
  return name.size() > kMaxNameBytes ? name.substr(0, kMaxNameBytes) + "..." : name;
}

void check_links(const std::filesystem::path& file, const std::string& text, const sg4::Engine& engine) {
  for (const sg4::Link* link : engine.get_all_links()) {
    const double bandwidth_Bps = link->get_bandwidth();
    const double latency_s = link->get_latency();
    if (!std::isfinite(bandwidth_Bps) || bandwidth_Bps <= 0)
      throw InputError(locate_id(file, text, link->get_name(),
                                 fmt::format("link '{}' has bandwidth {} Bps: it must be a finite number > 0",
                                             short_name(link->get_name()), bandwidth_Bps)));
    if (!std::isfinite(latency_s) || latency_s < 0)
      throw InputError(locate_id(file, text, link->get_name(),
                                 fmt::format("link '{}' has latency {} s: it must be a finite number >= 0",
                                             short_name(link->get_name()), latency_s)));
  }
}

// Sorted by name so that the pair named in a message does not depend on SimGrid's map order.
std::vector<sg4::Host*> sorted_hosts(const sg4::Engine& engine) {
  std::vector<sg4::Host*> hosts = engine.get_all_hosts();
  std::sort(hosts.begin(), hosts.end(), [](const sg4::Host* a, const sg4::Host* b) { return a->get_name() < b->get_name(); });
  return hosts;
}

std::string missing_route(const std::filesystem::path& file, const std::string& from, const std::string& to) {
  return located(file, fmt::format("no route from host '{}' to host '{}' (every pair of hosts needs a route each way: "
                                   "add one, or make it symmetrical=\"YES\")",
                                   short_name(from), short_name(to)));
}

void check_routes(const std::filesystem::path& file, const sg4::Engine& engine, Progress& progress) {
  const std::vector<sg4::Host*> hosts = sorted_hosts(engine);
  std::vector<sg4::Link*> links;
  for (std::size_t a = 0; a < hosts.size(); ++a)
    for (std::size_t b = 0; b < hosts.size(); ++b) {
      if (a == b) continue;
      set_name(progress.src, hosts[a]->get_name());
      set_name(progress.dst, hosts[b]->get_name());
      links.clear();
      double latency_s = 0;
      hosts[a]->route_to(hosts[b], links, &latency_s);
      // Two distinct hosts joined by no link: SimGrid found no route (an empty one is no network).
      if (links.empty()) throw InputError(missing_route(file, hosts[a]->get_name(), hosts[b]->get_name()));
    }
}

// The first line SimGrid printed before it killed the child (its assertion), without the log prefix.
std::string first_line(int fd) {
  std::string text;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < 65536;) text.append(buf, static_cast<std::size_t>(n));
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    if (!line.empty()) {
      const std::size_t tag = line.rfind("] ");
      return tag == std::string::npos ? line : line.substr(tag + 2);
    }
    begin = end + 1;
  }
  return "";
}

class SharedProgress {
 public:
  SharedProgress() {
    void* p = ::mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap of the platform check's progress failed");
    progress_ = new (p) Progress();
  }
  ~SharedProgress() { ::munmap(progress_, sizeof(Progress)); }
  SharedProgress(const SharedProgress&) = delete;
  SharedProgress& operator=(const SharedProgress&) = delete;
  Progress& get() { return *progress_; }

 private:
  Progress* progress_;
};

}  // namespace

void check_simgrid_xml(const std::filesystem::path& file, sg4::Engine& engine) {
  const std::string text = read_text(file);
  SharedProgress shared;
  Progress& progress = shared.get();
  const int log_fd = ::memfd_create("moesim-xml-check-stderr", MFD_CLOEXEC);
  try {
    run_isolated([&]() -> std::string {
      if (log_fd >= 0) ::dup2(log_fd, STDERR_FILENO);  // SimGrid's backtrace is not for the user
      progress.phase = kLoading;
      try {
        engine.load_platform(file.string());
      } catch (const std::exception& e) {
        throw InputError(located(file, fmt::format("SimGrid could not load this platform: {}", e.what())));
      }
      check_links(file, text, engine);
      progress.phase = kProbing;
      check_routes(file, engine, progress);
      return "";
    });
  } catch (const IsolatedProcessDied& died) {
    const std::string said = log_fd >= 0 ? first_line(log_fd) : "";
    if (log_fd >= 0) ::close(log_fd);
    if (progress.phase == kProbing) {
      // SimGrid's own words here are only its signal handler's ("Segmentation fault."): left out.
      throw InputError(located(file, fmt::format("no usable route from host '{}' to host '{}' (SimGrid crashed looking "
                                                 "it up: {})",
                                                 progress.src, progress.dst, died.what())));
    }
    throw InputError(located(file, fmt::format("SimGrid could not load this platform ({}{}{})", died.what(),
                                               said.empty() ? "" : ": ", said)));
  } catch (...) {
    if (log_fd >= 0) ::close(log_fd);
    throw;
  }
  if (log_fd >= 0) ::close(log_fd);
}

}  // namespace moesim::topologies
