// The fused GPU kernels' stand-in for builds without nvcc (the CPU build, and a GPU build on a
// machine without the CUDA compiler): applies() is false, so layers.cpp always runs the ATen
// sequence and the others are never called.
#include <stdexcept>

#include "fused_ops.hpp"

namespace moesim::model::fused {

bool applies(const at::Tensor&) { return false; }

static at::Tensor not_built() { throw std::logic_error("fused GPU kernels called in a build without them"); }

at::Tensor silu_mul(const at::Tensor&, const at::Tensor&) { return not_built(); }
at::Tensor rope(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return not_built(); }
at::Tensor rms_norm(const at::Tensor&, const at::Tensor&, double) { return not_built(); }
at::Tensor combine_experts(const at::Tensor&, const at::Tensor&, const at::Tensor&, std::int64_t) { return not_built(); }

}  // namespace moesim::model::fused
