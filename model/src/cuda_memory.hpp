#pragma once
// Free memory of a CUDA device, for --device auto (placement.cpp). Answered by the CUDA runtime in
// builds that compile model/src/cuda/ (cuda/cuda_memory.cpp); elsewhere LibTorch sees no CUDA
// device, so it is never asked (cuda_memory_none.cpp).
#include <cstdint>

namespace moesim::model {

std::uint64_t cuda_free_bytes(int device_index);

}  // namespace moesim::model
