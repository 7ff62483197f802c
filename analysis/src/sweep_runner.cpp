// A pool of worker processes: each scenario runs its steps one after another (posix_spawn, stdout and
// stderr to files in the scenario folder); up to --jobs scenarios run at once. Processes rather than
// threads, because a crashing or leaking command must not take the sweep down with it.
#include "moesim/analysis/sweep_runner.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <thread>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"


namespace moesim::analysis {
namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The last non-empty line of a command's stderr is its one-line error message (moesim's convention).
std::string last_line(const std::string& text) {
  std::string last;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (auto cr = line.rfind('\r'); cr != std::string::npos) line = line.substr(cr + 1);  // progress redraws
    if (line.find_first_not_of(" \t") != std::string::npos) last = line;
  }
  return last;
}

json value_json(const ParamValue& v) {
  if (!v.numeric) return v.text;
  double x = std::stod(v.text);
  if (v.text.find_first_of(".eE") == std::string::npos && std::abs(x) < 9e15) return static_cast<std::int64_t>(x);
  return x;
}

bool is_list_index(const std::string& key) {
  return !key.empty() && key.size() < 6 && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A key path through a list element (platform.scale_out.tiers.0.oversubscription): lists replace,
// not merge, through `extends:`, so the derived file needs the whole list, copied from the base
// file named by the parameter. That file must write the list itself (no search up its extends).
YAML::Node base_list(const Scenario& s, const std::string& file_param, const fs::path& sweep_dir, const FileOverride& o,
                     std::size_t depth) {
  const auto p = std::find_if(s.params.begin(), s.params.end(), [&](const Param& x) { return x.name == file_param; });
  fs::path base = p == s.params.end() ? fs::path() : fs::path(p->value.text);
  if (!base.empty() && !base.is_absolute()) base = sweep_dir / base;
  std::string list_path;
  for (std::size_t i = 0; i <= depth; ++i) list_path += (i ? "." : "") + o.key_path[i];
  std::error_code ec;
  if (base.empty() || !fs::exists(base, ec))
    throw InputError(fmt::format("{}: '{}' overrides an element of the list '{}', so '{}' must name a YAML file "
                                 "that writes the list", o.param, o.param, list_path, file_param));
  YAML::Node node = YAML::LoadFile(base.string());
  for (std::size_t i = 0; i <= depth && node; ++i) node = node.IsMap() ? node[o.key_path[i]] : YAML::Node();
  const std::size_t index = std::stoul(o.key_path[depth + 1]);
  if (!node || !node.IsSequence())
    throw InputError(located(base, fmt::format("sweep parameter '{}' overrides an element of the list '{}', which this "
                                               "file must write itself (lists replace, not merge, through extends:)",
                                               o.param, list_path)));
  if (index >= node.size())
    throw InputError(located(base, fmt::format("sweep parameter '{}': '{}' has {} elements, no element {}", o.param,
                                               list_path, node.size(), index)));
  return YAML::Clone(node);
}

// `extends:` the base file (absolute, so that the derived copy works from any folder) + the overrides.
void write_derived_yaml(const Scenario& s, const std::string& file_param, const fs::path& sweep_dir,
                        const fs::path& out) {
  YAML::Node doc;
  for (const auto& p : s.params) {
    if (p.name != file_param) continue;
    // A file relative to the sweep file becomes absolute; anything else (a preset name such as
    // dgx-h100-8gpu, or a missing file that the command will report) stays as written.
    fs::path base = p.value.text;
    std::error_code ec;
    bool relative_file = !base.is_absolute() && fs::exists(sweep_dir / base, ec);
    doc["extends"] = relative_file ? (sweep_dir / base).lexically_normal().string() : p.value.text;
  }
  for (const auto& o : s.overrides) {
    if (o.file_param != file_param) continue;
    const auto it = std::find_if(s.params.begin(), s.params.end(), [&](const Param& p) { return p.name == o.param; });
    std::vector<YAML::Node> chain{doc};  // yaml-cpp nodes are handles: walk down, then assign the leaf
    for (std::size_t i = 0; i + 1 < o.key_path.size(); ++i) {
      if (!chain.back().IsSequence() && is_list_index(o.key_path[i + 1]) && !chain.back()[o.key_path[i]].IsSequence())
        chain.back()[o.key_path[i]] = base_list(s, file_param, sweep_dir, o, i);
      YAML::Node parent = chain.back();
      chain.push_back(parent.IsSequence() ? parent[std::stoul(o.key_path[i])] : parent[o.key_path[i]]);
    }
    chain.back()[o.key_path.back()] = it->value.text;
  }
  YAML::Emitter emitter;
  emitter << doc;
  write_file_atomically(out, std::string("# written by moesim sweep for one scenario\n") + emitter.c_str() + "\n");
}

// Ctrl-C or scancel (SIGTERM) reach only the sweep, since commands run in their own process groups:
// pass the signal on to every running command, wait for them, then die of it as usual.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;  // no SA_RESTART: waitpid returns EINTR
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// Starts one step's command: stdin from /dev/null, stdout and stderr to files, in `cwd`.
// - In a process group of its own, so that a timeout or Ctrl-C also stops what it started
//   (moesim replay simulates in a forked child): kill(-pid) reaches them all.
// - With PR_SET_PDEATHSIG = SIGKILL, so that a sweep killed with SIGKILL (no handler runs) does
//   not leave its workers running on: the kernel kills each worker when the sweep dies.
// fork + exec rather than posix_spawn, which cannot set a death signal. Only async-signal-safe
// calls between the two; an exec failure comes back through a close-on-exec pipe.
// Returns 0, or the errno of what failed in the child.
int spawn_worker(const std::vector<char*>& argv, const std::string& out, const std::string& err,
                 const std::string& cwd, pid_t& pid) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return errno;
  const pid_t parent = ::getpid();
  pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(report[0]);
    ::close(report[1]);
    return e;
  }
  if (pid == 0) {
    auto fail = [&](int e) {
      (void)!::write(report[1], &e, sizeof e);
      ::_exit(127);
    };
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
    if (::getppid() != parent) ::_exit(127);  // the sweep died before the line above took effect
    if (::setpgid(0, 0) != 0) fail(errno);
    const int in_fd = ::open("/dev/null", O_RDONLY);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) fail(errno);
    if (::dup2(in_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 || ::dup2(err_fd, STDERR_FILENO) < 0)
      fail(errno);
    if (::chdir(cwd.c_str()) != 0) fail(errno);
    ::execv(argv[0], argv.data());
    fail(errno);
  }
  ::setpgid(pid, pid);  // also from here: no window in which kill(-pid) misses the new group
  ::close(report[1]);
  int child_errno = 0;
  ssize_t n;
  while ((n = ::read(report[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return child_errno;
  }
  return 0;
}

struct Running {
  std::size_t scenario = 0;  // position in the selection
  std::size_t step = 0;
  Clock::time_point start;
};

class Pool {
 public:
  Pool(const SweepSpec& spec, const RunOptions& options, const std::vector<const Scenario*>& todo)
      : spec_(spec), options_(options), todo_(todo), progress_("sweep", todo.size(), "scenarios", options.progress && !todo.empty()) {}

  RunSummary run() {
    std::deque<std::size_t> queue;
    for (std::size_t i = 0; i < todo_.size(); ++i) queue.push_back(i);
    const std::size_t jobs = static_cast<std::size_t>(std::max(1, options_.jobs));
    StopSignals signals;
    while (!queue.empty() || !running_.empty()) {
      if (g_stop_signal) stop_all_and_die();
      while (running_.size() < jobs && !queue.empty()) {
        std::size_t i = queue.front();
        queue.pop_front();
        start_scenario(i);
      }
      if (running_.empty()) continue;
      int status = 0;
      // With a time limit, poll so that overdue scenarios can be killed; without one, block.
      pid_t pid = ::waitpid(-1, &status, options_.timeout_s > 0 ? WNOHANG : 0);
      if (pid == 0) {
        kill_overdue();
        std::this_thread::sleep_for(kPollInterval);
        continue;
      }
      if (pid < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(fmt::format("sweep: waitpid failed: {}", std::strerror(errno)));
      }
      auto it = running_.find(pid);
      if (it == running_.end()) continue;  // not one of ours
      Running r = it->second;
      running_.erase(it);
      if (timed_out_.erase(pid)) {
        finish(r.scenario, todo_[r.scenario]->steps[r.step].name, kExitFailure,
               fmt::format("timed out after {:g} s (--timeout-s)", options_.timeout_s));
        continue;
      }
      step_finished(r, status);
    }
    progress_.finish();
    return summary_;
  }

 private:
  static constexpr std::chrono::milliseconds kPollInterval{20};

  [[noreturn]] void stop_all_and_die() {
    const int sig = g_stop_signal;
    for (const auto& [pid, r] : running_) ::kill(-pid, sig);
    for (const auto& [pid, r] : running_) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    fmt::print(stderr, "\nsweep: stopped by signal {} ({} scenarios were running; a rerun resumes)\n", sig,
               running_.size());
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    std::_Exit(128 + sig);
  }

  void kill_overdue() {
    const auto now = Clock::now();
    for (const auto& [pid, r] : running_) {
      double elapsed_s = std::chrono::duration<double>(now - started_[r.scenario]).count();
      if (elapsed_s > options_.timeout_s && timed_out_.insert(pid).second) ::kill(-pid, SIGKILL);
    }
  }

  void start_scenario(std::size_t i) {
    const Scenario& s = *todo_[i];
    fs::path dir = scenario_dir(options_.out_dir, s);
    started_[i] = Clock::now();
    outputs_[i] = json::object();
    try {
      fs::create_directories(dir);
      std::set<std::string> derived;
      for (const auto& o : s.overrides)
        if (derived.insert(o.file_param).second)
          write_derived_yaml(s, o.file_param, spec_.file.parent_path(), dir / (o.file_param + ".yaml"));
    } catch (const std::exception& e) {
      finish(i, "", 1, fmt::format("cannot prepare {}: {}", dir.string(), e.what()));
      return;
    }
    spawn(i, 0);
  }

  void spawn(std::size_t i, std::size_t step_index) {
    const Scenario& s = *todo_[i];
    const StepTemplate& step = s.steps[step_index];
    const fs::path dir = fs::absolute(scenario_dir(options_.out_dir, s));
    std::vector<std::string> words;
    for (const auto& w : step.words) {
      std::string word = w;
      for (auto pos = word.find("{dir}"); pos != std::string::npos; pos = word.find("{dir}", pos))
        word.replace(pos, 5, dir.string());
      words.push_back(word);
    }
    words[0] = options_.moesim_exe.string();
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);

    const std::string out = (dir / (step.name + ".out")).string(), err = (dir / (step.name + ".err")).string();
    const std::string cwd = spec_.file.parent_path().string();  // paths in a sweep file are relative to it
    pid_t pid = 0;
    const int error = spawn_worker(argv, out, err, cwd, pid);
    if (error != 0) {
      finish(i, step.name, 1, fmt::format("cannot run {}: {}", words[0], std::strerror(error)));
      return;
    }
    running_[pid] = {i, step_index, Clock::now()};
  }

  void step_finished(const Running& r, int status) {
    const Scenario& s = *todo_[r.scenario];
    const StepTemplate& step = s.steps[r.step];
    const fs::path dir = scenario_dir(options_.out_dir, s);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0) {
      std::string message = last_line(read_text(dir / (step.name + ".err")));
      if (WIFSIGNALED(status)) message = fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
      if (message.empty()) message = fmt::format("exit code {}", code);
      finish(r.scenario, step.name, code, message);
      return;
    }
    std::string out = read_text(dir / (step.name + ".out"));
    if (out.find_first_not_of(" \t\r\n") == std::string::npos) {
      outputs_[r.scenario][step.name] = nullptr;
    } else {
      json parsed = json::parse(out, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        finish(r.scenario, step.name, 1, "stdout is not JSON (add --json to the step's command)");
        return;
      }
      outputs_[r.scenario][step.name] = std::move(parsed);
    }
    if (r.step + 1 < s.steps.size()) spawn(r.scenario, r.step + 1);
    else finish(r.scenario, "", 0, "");
  }

  void finish(std::size_t i, const std::string& failed_step, int code, const std::string& error) {
    const Scenario& s = *todo_[i];
    json result = {{"id", s.id},
                   {"index", s.index},
                   {"sweep", spec_.name},
                   {"params", params_json(s.params)},
                   {"status", code == 0 ? "ok" : "failed"},
                   {"exit_code", code},
                   {"wall_s", std::chrono::duration<double>(Clock::now() - started_[i]).count()},
                   {"steps", outputs_[i]}};
    if (code != 0) {
      result["failed_step"] = failed_step;
      result["error"] = error;
      ++summary_.failed;
      // Say it now, on its own line, so that a long sweep's log shows failures as they happen.
      fmt::print(stderr, "sweep: scenario {} ({}) failed{}: {}\n", s.index, s.id,
                 failed_step.empty() ? "" : " in step '" + failed_step + "'", error);
    } else {
      ++summary_.ok;
    }
    write_file_atomically(result_path(options_.out_dir, s.id), result.dump(2) + "\n");
    outputs_.erase(i);
    started_.erase(i);
    progress_.advance();
  }

  const SweepSpec& spec_;
  const RunOptions& options_;
  const std::vector<const Scenario*>& todo_;
  Progress progress_;
  std::map<pid_t, Running> running_;
  std::map<std::size_t, json> outputs_;
  std::map<std::size_t, Clock::time_point> started_;
  std::set<pid_t> timed_out_;
  RunSummary summary_;
};

}  // namespace

SweepFolderLock::SweepFolderLock(const fs::path& out_dir, Mode mode) {
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !fs::is_directory(out_dir, ec))
    throw InputError(located(out_dir, "is a file; --out names the sweep's folder"));
  fs::create_directories(out_dir);
  const fs::path file = out_dir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);  // close-on-exec: workers do not hold it
  if (fd_ < 0) throw std::runtime_error(fmt::format("{}: cannot open the sweep lock: {}", file.string(), std::strerror(errno)));
  int rc;
  while ((rc = ::flock(fd_, (mode == Mode::exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    const int e = errno;
    ::close(fd_);
    if (e == EWOULDBLOCK)
      throw std::runtime_error(fmt::format("{}: another moesim sweep is running in this folder (it holds {}); wait for it "
                                           "to end or give another --out",
                                           out_dir.string(), file.string()));
    throw std::runtime_error(fmt::format("{}: cannot lock: {}", file.string(), std::strerror(e)));
  }
}

SweepFolderLock::~SweepFolderLock() { ::close(fd_); }

fs::path scenario_dir(const fs::path& out_dir, const Scenario& s) { return out_dir / "scenarios" / s.id; }
fs::path result_path(const fs::path& out_dir, const std::string& id) {
  return out_dir / "scenarios" / id / "result.json";
}

json params_json(const std::vector<Param>& params) {
  json j = json::object();
  for (const auto& p : params) j[p.name] = value_json(p.value);
  return j;
}

void write_sweep_index(const SweepSpec& spec, const std::vector<Scenario>& grid, const fs::path& out_dir) {
  json scenarios = json::array();
  for (const auto& s : grid) scenarios.push_back({{"index", s.index}, {"id", s.id}, {"params", params_json(s.params)}});
  json index = {{"format", "moesim-sweep"}, {"version", 1},         {"name", spec.name},
                {"file", spec.file.string()}, {"columns", spec.columns()}, {"scenarios", scenarios}};
  write_file_atomically(out_dir / "sweep.json", index.dump(1) + "\n");
}

RunSummary run_scenarios(const SweepSpec& spec, const std::vector<Scenario>& grid, const RunOptions& options) {
  std::vector<const Scenario*> todo;
  RunSummary summary;
  const std::size_t end = options.count > grid.size() ? grid.size() : std::min(grid.size(), options.first + options.count);
  for (std::size_t i = options.first; i < end; ++i) {
    ++summary.selected;
    const Scenario& s = grid[i];
    std::ifstream f(result_path(options.out_dir, s.id));
    if (f && !options.rerun_all) {
      json done = json::parse(f, nullptr, false);
      bool ok = !done.is_discarded() && done.value("id", "") == s.id && done.value("status", "") == "ok";
      bool failed = !done.is_discarded() && done.value("status", "") == "failed";
      if (ok || (failed && !options.retry_failed)) {
        ++summary.skipped;
        continue;
      }
    }
    todo.push_back(&s);
  }
  Pool pool(spec, options, todo);
  RunSummary ran = pool.run();
  summary.ok = ran.ok;
  summary.failed = ran.failed;
  return summary;
}

}  // namespace moesim::analysis
