#include "moesim/sim/isolated.hpp"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "moesim/common/error.hpp"

namespace moesim::sim {

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
}  // namespace

std::string run_isolated(const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], fn);
  }
  ::close(fds[1]);
  std::string data;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    throw std::runtime_error(fmt::format("the simulation process died of signal {} ({})", WTERMSIG(status),
                                         strsignal(WTERMSIG(status))));
  if (data.empty()) throw std::runtime_error("the simulation process ended without a result (see its messages above)");
  std::string payload = data.substr(1);
  if (data[0] == kInputError) throw InputError(payload);
  if (data[0] == kFailure) throw std::runtime_error(payload);
  return payload;
}

double children_peak_rss_bytes() {
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_maxrss) * 1024.0;
}

}  // namespace moesim::sim
