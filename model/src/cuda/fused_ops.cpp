// Where the fused GPU kernels run: a build with them (this file is compiled only there), a CUDA
// tensor, a dtype they are written for, and no gradient being recorded (they have no backward:
// training keeps ATen's ops, whose autograd formulas it needs).
#include <ATen/core/grad_mode.h>

#include "../fused_ops.hpp"

namespace moesim::model::fused {

bool applies(const at::Tensor& x) {
  const at::ScalarType t = x.scalar_type();
  return x.is_cuda() && !at::GradMode::is_enabled() && (t == at::kFloat || t == at::kHalf || t == at::kBFloat16);
}

}  // namespace moesim::model::fused
