#pragma once
// An allocator for the fluid engine's per-flow and per-route arrays (16.7 M flows at 4096 GPUs:
// arrays of 67-270 MB each) that asks the kernel for transparent huge pages (madvise
// MADV_HUGEPAGE, 2 MiB pages): first touching a 4 KiB page costs a page fault, and at 4096 GPUs
// those faults were 28 % of a direct all-to-all's CPU on this virtual machine (perf; 2026-12-05:
// the whole run 27 -> 17 s with huge pages for every large allocation via
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1). Small arrays go to operator new as usual; where the
// kernel's THP setting is "never" the advice is ignored and the pages are ordinary ones. Since
// 2026-12-06 the `moesim` front sets that tunable for its back ends (moesim/common/malloc_huge_pages.hpp),
// so every large std::vector gets huge pages too; this allocator keeps them where the process was
// started without it (a test binary, moesim-core run directly).
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace moesim::sim {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
  // Below this an array stays on the heap: a 2 MiB mapping for it would waste more than it saves.
  static constexpr std::size_t kMinBytes = 4 * kHugePageBytes;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: allocators convert implicitly

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kMinBytes) return static_cast<T*>(::operator new(bytes));
    // Map a huge page more than asked, keep the 2 MiB-aligned part (THP needs aligned 2 MiB ranges).
    const std::size_t mapped = round_up(bytes) + kHugePageBytes;
    void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t aligned = (start + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
    if (aligned > start) ::munmap(p, aligned - start);
    const std::uintptr_t end = start + mapped, kept_end = aligned + round_up(bytes);
    if (end > kept_end) ::munmap(reinterpret_cast<void*>(kept_end), end - kept_end);
    ::madvise(reinterpret_cast<void*>(aligned), round_up(bytes), MADV_HUGEPAGE);
    return reinterpret_cast<T*>(aligned);
  }

  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kMinBytes) ::operator delete(p);
    else ::munmap(p, round_up(bytes));
  }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }

 private:
  static std::size_t round_up(std::size_t bytes) { return (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1); }
};

// A vector whose large buffers live on huge pages.
template <class T>
using huge_vector = std::vector<T, HugePageAllocator<T>>;

}  // namespace moesim::sim
