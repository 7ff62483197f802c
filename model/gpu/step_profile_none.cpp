// profile_step where this LibTorch's Kineto profiler API did not compile (model/gpu/CMakeLists.txt).
#include "moesim/common/error.hpp"
#include "step_profile.hpp"

namespace moesim::model {

void profile_step(const std::string&, const std::function<void()>&) {
  throw InputError("--profile: this moesim-gpu was built without LibTorch's Kineto profiler "
                   "(torch/csrc/autograd/profiler_kineto.h did not compile)");
}

}  // namespace moesim::model
