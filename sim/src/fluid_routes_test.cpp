// The fluid engine's composed routes (fluid_routes.hpp) are SimGrid's: for every GPU pair of
// platforms of each kind, the same links in the same order and the same latency to the bit as
// Host::route_to; a platform whose zones have no single gateway falls back to route_to per pair.
// And the huge-page allocator of the fluid engine's arrays (huge_page_allocator.hpp).
#include <sys/mman.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/Link.hpp>

#include <bit>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fluid_routes.hpp"
#include "moesim/sim/huge_page_allocator.hpp"
#include "moesim/sim/zeroed_array.hpp"
#include "moesim/sim/simulation.hpp"
#include "moesim/topologies/platform_source.hpp"

using namespace moesim::sim;

namespace {

// "composed=<0|1> pairs=<n> mismatches=<m>", every ordered pair checked (the diagonal included).
std::string compare_all_pairs(const std::string& platform) {
  return run_simulation_bytes(moesim::topologies::parse_platform_source(platform), 0,
                              [](FlowNetwork& net, const SimulationCost&) {
    std::map<const simgrid::s4u::Link*, std::uint32_t> ids_of;
    auto id = [&](const simgrid::s4u::Link* l) { return ids_of.try_emplace(l, static_cast<std::uint32_t>(ids_of.size())).first->second; };
    std::mutex mutex;
    const auto& gpus = net.platform().gpus;
    FluidRoutes routes(gpus, id, mutex);
    std::vector<std::uint32_t> composed, reference;
    std::vector<simgrid::s4u::Link*> links;
    int pairs = 0, mismatches = 0;
    for (std::size_t a = 0; a < gpus.size(); ++a)
      for (std::size_t b = 0; b < gpus.size(); ++b) {
        if (a == b && net.platform().local_copy_Bps == 0) continue;  // no self route without a copy link
        const double latency = routes.route(static_cast<int>(a), static_cast<int>(b), composed);
        links.clear();
        double expected = 0;
        gpus[a]->route_to(gpus[b], links, &expected);
        reference.clear();
        for (const auto* l : links) reference.push_back(id(l));
        ++pairs;
        if (composed != reference || std::bit_cast<std::uint64_t>(latency) != std::bit_cast<std::uint64_t>(expected))
          ++mismatches;
      }
    return "composed=" + std::to_string(routes.composed() ? 1 : 0) + " pairs=" + std::to_string(pairs) +
           " mismatches=" + std::to_string(mismatches) + " zone_pairs=" + std::to_string(routes.zone_pairs_asked());
  });
}

}  // namespace

TEST_CASE("fluid routes: composed from per-GPU pieces, equal to SimGrid's route_to on every pair") {
  // switch: a Star root over one-GPU zones; cluster and presets: a Full root over 8-GPU nodes
  // (NVSwitch inside, NICs and leaves outside); rail-optimized adds per-rail leaves. Where zones hold
  // several GPUs the middle piece is asked once per ordered pair of distinct zones (8 nodes: 56).
  CHECK(compare_all_pairs("switch:64") == "composed=1 pairs=4032 mismatches=0 zone_pairs=0");
  CHECK(compare_all_pairs("cluster:8:8") == "composed=1 pairs=4032 mismatches=0 zone_pairs=56");
  CHECK(compare_all_pairs("rail-optimized-64") == "composed=1 pairs=4032 mismatches=0 zone_pairs=56");
  CHECK(compare_all_pairs("fat-tree-256") == "composed=1 pairs=65280 mismatches=0 zone_pairs=992");
}

TEST_CASE("fluid routes: the local copy's self route, and one node (a single zone) asked pair by pair") {
  // Two 8-GPU nodes with node.local_copy_bandwidth and node.duplex_bandwidth: every GPU also has a
  // self route (copy + duplex link), and its NIC routes cross its duplex link too.
  CHECK(compare_all_pairs(std::string(MOESIM_SOURCE_DIR) + "/tests/fixtures/platforms/nccl-mechanisms-2node.yaml") ==
        "composed=1 pairs=256 mismatches=0 zone_pairs=2");
  CHECK(compare_all_pairs("dgx-h100-8gpu") == "composed=0 pairs=56 mismatches=0 zone_pairs=0");
}

TEST_CASE("fluid routes: a zone with two routers (which is the gateway?) is asked of SimGrid pair by pair") {
  CHECK(compare_all_pairs(std::string(MOESIM_SOURCE_DIR) + "/tests/fixtures/platforms/xml-two-routers-per-zone.xml") ==
        "composed=0 pairs=12 mismatches=0 zone_pairs=0");
}

TEST_CASE("huge page allocator: large arrays start on a 2 MiB boundary, small ones on the heap, contents kept") {
  huge_vector<double> large(HugePageAllocator<double>::kMinBytes / sizeof(double) + 1);
  CHECK(reinterpret_cast<std::uintptr_t>(large.data()) % HugePageAllocator<double>::kHugePageBytes == 0);
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<double>(i);
  large.resize(large.size() * 2, -1.0);  // reallocates: the old mapping is copied, then unmapped
  CHECK(reinterpret_cast<std::uintptr_t>(large.data()) % HugePageAllocator<double>::kHugePageBytes == 0);
  CHECK(large[12345] == 12345.0);
  CHECK(large.back() == -1.0);
  huge_vector<double> small(16, 2.0);
  CHECK(small[15] == 2.0);
}

TEST_CASE("zeroed array: every element reads zero until written, an empty one is null") {
  struct Pair {
    double latency_s;
    std::uint32_t first, count_plus_one;
  };
  constexpr std::size_t kElements = std::size_t{1} << 20;  // 16 MiB: calloc maps it from the kernel
  auto a = make_zeroed_array<Pair>(kElements);
  CHECK(a[0].count_plus_one == 0);
  CHECK(a[kElements - 1].latency_s == 0.0);
  a[12345] = {1.5, 2, 3};
  CHECK(a[12345].count_plus_one == 3);
  CHECK(a[12346].first == 0);
  CHECK(make_zeroed_array<std::uint32_t>(0) == nullptr);
  // Sparse stays sparse: after a few writes only their pages are resident (mincore), even where
  // transparent huge pages are on and malloc asks for them (sim_tests runs with
  // glibc.malloc.hugetlb=1, as `moesim` runs its back ends); a 2 MiB page would be 512 of them.
  const long page = ::sysconf(_SC_PAGESIZE);
  for (std::size_t i : {std::size_t{0}, kElements / 2, kElements - 1}) a[i].first = 7;
  const auto first = reinterpret_cast<std::uintptr_t>(a.get()) & ~static_cast<std::uintptr_t>(page - 1);
  const std::size_t span = reinterpret_cast<std::uintptr_t>(a.get()) + kElements * sizeof(Pair) - first;
  std::vector<unsigned char> resident((span + page - 1) / page);
  REQUIRE(::mincore(reinterpret_cast<void*>(first), span, resident.data()) == 0);
  std::size_t pages = 0;
  for (unsigned char r : resident) pages += r & 1;
  CHECK(pages >= 3);  // the writes: one page each (a[12345] above is another)
  CHECK(pages <= 8);
}
