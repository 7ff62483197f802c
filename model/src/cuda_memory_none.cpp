// Builds without the CUDA toolkit (cuda_memory.hpp): no CUDA device is ever placed on here.
#include <stdexcept>

#include "cuda_memory.hpp"

namespace moesim::model {

std::uint64_t cuda_free_bytes(int) { throw std::logic_error("cuda_free_bytes in a build without the CUDA toolkit"); }

}  // namespace moesim::model
