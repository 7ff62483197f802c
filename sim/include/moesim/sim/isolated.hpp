#pragma once
// SimGrid keeps one engine per process and cannot be re-initialised (its configuration is frozen
// once the first platform exists). Every simulation therefore runs in a forked child: the library
// call can be repeated (tests, sweeps), and memory is returned to the system when it ends.
#include <functional>
#include <string>

namespace moesim::sim {

// Runs `fn` in a forked child and returns the bytes it produced. moesim::InputError and other
// exceptions thrown in the child are rethrown here with their message; a crash becomes a runtime_error.
std::string run_isolated(const std::function<std::string()>& fn);

// Peak resident memory of finished children (bytes), for benchmarks.
double children_peak_rss_bytes();

}  // namespace moesim::sim
