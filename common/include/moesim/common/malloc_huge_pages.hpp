#pragma once
// Transparent huge pages for every large malloc block, through glibc's tunable
// glibc.malloc.hugetlb=1 (glibc >= 2.35; Debian 12 ships 2.36): malloc then advises the kernel
// (madvise MADV_HUGEPAGE) to back its mmap'd blocks and heap with 2 MiB pages. Why: the fluid
// engine's arrays at 4096 GPUs are GBs of std::vector touched once each; on a virtual machine
// every first touch of a 4 KiB page is a costly fault. Measured (replay_bench, direct all-to-all
// of 1 MB per pair, fluid engine, this 2-core VM, 2026-12-06): switch:4096 15.5 -> 9.9 s CPU,
// 1.33 M -> 29 k page faults (both platforms), peak RSS 2,814 -> 2,808 MB. glibc reads tunables
// once, when a program starts, so the process that wants them sets the variable for the next exec:
// the `moesim` front for its back ends, a benchmark for itself. Header-only: the front links no
// library of ours. Where the kernel's THP setting is "never" the advice does nothing.
#include <cstdlib>
#include <cstring>
#include <string>

namespace moesim {

// Adds glibc.malloc.hugetlb=1 to GLIBC_TUNABLES for the programs this process execs, unless the
// variable already names that tunable (a user's own choice, 0 included, stands). Returns whether
// it changed the environment.
inline bool request_malloc_huge_pages() {
  constexpr const char* kName = "glibc.malloc.hugetlb";
  constexpr const char* kSetting = "glibc.malloc.hugetlb=1";
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (current != nullptr && std::strstr(current, kName) != nullptr) return false;
  const std::string value = current != nullptr && *current != '\0' ? std::string(current) + ":" + kSetting : kSetting;
  return ::setenv("GLIBC_TUNABLES", value.c_str(), 1) == 0;
}

}  // namespace moesim
