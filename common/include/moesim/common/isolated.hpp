#pragma once
// Work that may not survive in the calling process runs in a forked child:
// - SimGrid keeps one engine per process and cannot be re-initialised (its configuration is frozen
//   once the first platform exists), so every simulation runs in a child: the library call can be
//   repeated (tests, sweeps), and memory is returned to the system when it ends;
// - third-party parsers that crash or loop on some corrupt files (libhdf5 on damaged metadata)
//   are first run in a child on the file, so that a crash there is a clean error here.
#include <functional>
#include <stdexcept>
#include <string>

namespace moesim {

// The child died (a signal, a sanitizer report), was killed at its time limit, or ended without a result.
class IsolatedProcessDied : public std::runtime_error {
 public:
  IsolatedProcessDied(const std::string& what, bool timed_out) : std::runtime_error(what), timed_out_(timed_out) {}
  bool timed_out() const { return timed_out_; }

 private:
  bool timed_out_;
};

struct IsolatedOptions {
  double timeout_s = 0;  // kill the child (SIGKILL) after this long; 0 = wait for ever
};

// Runs `fn` in a forked child and returns the bytes it produced. moesim::InputError and other
// exceptions thrown in the child are rethrown here with their message; a crash, or running past
// options.timeout_s, throws IsolatedProcessDied.
std::string run_isolated(const std::function<std::string()>& fn, const IsolatedOptions& options = {});

}  // namespace moesim
