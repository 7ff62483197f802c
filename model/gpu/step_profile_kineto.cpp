// profile_step with LibTorch's Kineto profiler (torch/csrc/autograd/profiler_kineto.h, the API behind
// torch.profiler.profile): the same calls as PyTorch's Python profiler makes, CPU and CUDA activities.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <set>

#include "step_profile.hpp"

namespace moesim::model {

void profile_step(const std::string& path, const std::function<void()>& step) {
  namespace impl = torch::profiler::impl;
  const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
  const std::set<impl::ActivityType> activities = {impl::ActivityType::CPU, impl::ActivityType::CUDA};
  torch::autograd::profiler::prepareProfiler(config, activities);
  torch::autograd::profiler::enableProfiler(config, activities);
  step();  // ends with the routing on the host: every kernel of the step has finished
  torch::autograd::profiler::disableProfiler()->save(path);
}

}  // namespace moesim::model
