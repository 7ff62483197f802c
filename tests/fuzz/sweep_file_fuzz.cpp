// Fuzzes the sweep-file reader (analysis/src/sweep_spec.cpp: `moesim sweep FILE`): parameters, axes
// (lists and ranges), dotted overrides, steps with placeholders. A file that loads is expanded into
// its grid when the grid is small (a range may legitimately ask for up to a million scenarios,
// which is too slow per input); every scenario must then have every step and every parameter.
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.hpp"
#include "moesim/analysis/sweep_spec.hpp"
#include "moesim/common/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static moesim::fuzz::ScratchFile file(".sweep.yaml");
  const auto& path = file.write(data, size);
  constexpr std::size_t kMaxGridToExpand = 4096;
  try {
    const moesim::analysis::SweepSpec spec = moesim::analysis::load_sweep_file(path, {});
    std::size_t grid = 1;
    for (const auto& [name, values] : spec.axes) {
      grid *= values.empty() ? 1 : values.size();
      if (grid > kMaxGridToExpand) return 0;
    }
    for (const auto& scenario : moesim::analysis::expand_grid(spec))
      if (scenario.steps.size() != spec.steps.size() || scenario.params.size() != spec.columns().size()) std::abort();
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);
  }
  return 0;
}
