#pragma once
// One capture step under LibTorch's profiler (Kineto: CPU ops and CUDA kernels), saved as a Chrome
// trace for scripts/gpu/kernel_summary.py: where the step's GPU time goes, kernel by kernel, and
// how long the GPU sits idle between them (launch gaps, host syncs). Built from
// step_profile_kineto.cpp where this LibTorch's profiler API compiles (model/gpu/CMakeLists.txt
// tries it), else step_profile_none.cpp.
#include <functional>
#include <string>

namespace moesim::model {

// Runs `step` once with the profiler on and writes the trace to `path` (JSON).
void profile_step(const std::string& path, const std::function<void()>& step);

}  // namespace moesim::model
