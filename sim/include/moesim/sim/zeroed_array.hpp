#pragma once
// A table of n zero-initialised elements whose memory costs nothing until written: calloc takes
// large blocks fresh from the kernel (mmap), whose pages are zero and unbacked until first touched.
// For tables indexed by a pair of which only some are ever used (the fluid engine's route per GPU
// pair, its zones' route per zone pair): 16384 GPUs in EP groups of 64 reserve 1 GiB for the GPU
// pairs and touch a few MB. An all-zero element must mean "not set yet".
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

namespace moesim::sim {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <class T>
using ZeroedArray = std::unique_ptr<T[], FreeDeleter>;

template <class T>
ZeroedArray<T> make_zeroed_array(std::size_t n) {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "calloc'd memory holds only trivial types (zero bytes are their value)");
  if (n == 0) return nullptr;  // calloc(0) may return a pointer of its own
  ZeroedArray<T> a(static_cast<T*>(std::calloc(n, sizeof(T))));
  if (!a) throw std::bad_alloc();
  return a;
}

}  // namespace moesim::sim
