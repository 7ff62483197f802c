#pragma once
// A table of n zero-initialised elements whose memory costs nothing until written: large tables are
// mapped fresh from the kernel (mmap), whose pages are zero and unbacked until first touched. For
// tables indexed by a pair of which only some are ever used (the fluid engine's route per GPU pair,
// its zones' route per zone pair): 16384 GPUs in EP groups of 64 reserve 1 GiB for the GPU pairs and
// touch a few MB. An all-zero element must mean "not set yet".
//
// Large tables are advised MADV_NOHUGEPAGE: with transparent huge pages, one write would back the
// whole 2 MiB around it. The `moesim` front asks glibc for huge pages for every large malloc block
// (moesim/common/malloc_huge_pages.hpp), calloc's included: with the tables from calloc, the
// 16384-GPU EP run's peak RSS went 1,088 -> 2,102 MB (measured 2026-12-06).
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

namespace moesim::sim {

struct ZeroedDeleter {
  std::size_t mapped_bytes = 0;  // 0: the table came from calloc
  void operator()(void* p) const {
    if (mapped_bytes > 0) ::munmap(p, mapped_bytes);
    else std::free(p);
  }
};

template <class T>
using ZeroedArray = std::unique_ptr<T[], ZeroedDeleter>;

// Below this a table is calloc'd: one small table's pages are all used anyway.
inline constexpr std::size_t kZeroedArrayMapBytes = std::size_t{1} << 20;

template <class T>
ZeroedArray<T> make_zeroed_array(std::size_t n) {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "zero-filled memory holds only trivial types (zero bytes are their value)");
  if (n == 0) return nullptr;  // calloc(0) may return a pointer of its own
  if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
  const std::size_t bytes = n * sizeof(T);
  if (bytes < kZeroedArrayMapBytes) {
    ZeroedArray<T> a(static_cast<T*>(std::calloc(n, sizeof(T))));
    if (!a) throw std::bad_alloc();
    return a;
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ::madvise(p, bytes, MADV_NOHUGEPAGE);  // 4 KiB pages: a write backs 4 KiB, not 2 MiB (see above)
  return ZeroedArray<T>(static_cast<T*>(p), ZeroedDeleter{bytes});
}

}  // namespace moesim::sim
