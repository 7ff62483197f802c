#include "moesim/common/isolated.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "moesim/common/error.hpp"

namespace moesim {

namespace {
enum : char { kOk = 'O', kInputError = 'I', kFailure = 'F' };

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(3);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void child_main(int fd, const std::function<std::string()>& fn) {
  char tag = kOk;
  std::string payload;
  try {
    payload = fn();
  } catch (const InputError& e) {
    tag = kInputError;
    payload = e.what();
  } catch (const std::exception& e) {
    tag = kFailure;
    payload = e.what();
  }
  std::fflush(stdout);
  std::fflush(stderr);
  write_all(fd, &tag, 1);
  write_all(fd, payload.data(), payload.size());
  ::close(fd);
  ::_exit(0);  // skip atexit handlers and static destructors of the parent's state
}

// Reads the child's pipe to its end; false when the deadline passed first (deadline unset: never).
bool read_until_eof(int fd, std::string& data, std::chrono::steady_clock::time_point deadline, bool has_deadline) {
  char buf[1 << 16];
  while (true) {
    if (has_deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) return false;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    data.append(buf, static_cast<std::size_t>(n));
  }
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}
}  // namespace

std::string run_isolated(const std::function<std::string()>& fn, const IsolatedOptions& options) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  std::fflush(stdout);
  std::fflush(stderr);
  const bool has_deadline = options.timeout_s > 0;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(has_deadline ? options.timeout_s : 0));
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    // Dies with its parent (kill -9 of a sweep worker, say): nobody would read its result.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::close(fds[0]);
    child_main(fds[1], fn);
  }
  ::close(fds[1]);
  std::string data;
  const bool finished = read_until_eof(fds[0], data, deadline, has_deadline);
  ::close(fds[0]);
  if (!finished) {
    ::kill(pid, SIGKILL);
    wait_for(pid);
    throw IsolatedProcessDied(fmt::format("the child process was still running after {} s and was killed", options.timeout_s),
                              true);
  }
  const int status = wait_for(pid);
  if (WIFSIGNALED(status))
    throw IsolatedProcessDied(fmt::format("the child process died of signal {} ({})", WTERMSIG(status),
                                          strsignal(WTERMSIG(status))),
                              false);
  if (data.empty())
    throw IsolatedProcessDied(
        fmt::format("the child process ended without a result (exit status {}; see its messages above)",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1),
        false);
  std::string payload = data.substr(1);
  if (data[0] == kInputError) throw InputError(payload);
  if (data[0] == kFailure) throw std::runtime_error(payload);
  return payload;
}

}  // namespace moesim
