// Builds without the CUDA toolkit's runtime calls (cuda_memory.hpp): the CPU build, whose LibTorch
// sees no CUDA device, and a GPU build without nvcc or with MOESIM_CUDA_KERNELS=OFF.
#include "cuda_memory.hpp"
#include "moesim/common/error.hpp"

namespace moesim::model {

std::uint64_t cuda_free_bytes(int) {
  throw InputError("--device auto: this build cannot ask a GPU for its free memory (built without the CUDA toolkit); "
                   "list the devices instead, e.g. --device cuda:0,cpu");
}

}  // namespace moesim::model
