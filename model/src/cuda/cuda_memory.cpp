// Free memory of a CUDA device (cuda_memory.hpp): cudaMemGetInfo on that device. Memory LibTorch's
// caching allocator holds but does not use counts as taken, which at load time is next to nothing.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>

#include "../cuda_memory.hpp"

namespace moesim::model {

std::uint64_t cuda_free_bytes(int device_index) {
  const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_index));
  std::size_t free_bytes = 0, total_bytes = 0;
  C10_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

}  // namespace moesim::model
