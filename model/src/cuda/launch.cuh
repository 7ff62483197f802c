#pragma once
// What the fused kernels share: the dtypes they run on, their arithmetic type, and launch sizes.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

namespace moesim::model::fused {

// Threads per block: a multiple of the warp, enough to hide memory latency on Hopper.
constexpr int kThreadsPerBlock = 256;
// Grid-stride loops cap the grid here (a few waves of blocks on a 132-SM GPU).
constexpr std::int64_t kMaxBlocks = 132 * 32;

inline int blocks_for(std::int64_t work_items) {
  return static_cast<int>(std::clamp<std::int64_t>((work_items + kThreadsPerBlock - 1) / kThreadsPerBlock, 1, kMaxBlocks));
}

// Calls f(T{}) with T the C++ type of dtype (float, c10::Half, c10::BFloat16): the dtypes of
// fused::applies. Half types are computed in float, as ATen's CUDA kernels do (opmath_type).
template <class F>
void dispatch_float_types(at::ScalarType dtype, F&& f) {
  switch (dtype) {
    case at::kFloat: f(float{}); break;
    case at::kHalf: f(c10::Half{}); break;
    case at::kBFloat16: f(c10::BFloat16{}); break;
    default: TORCH_CHECK(false, "fused kernels: unsupported dtype ", dtype);
  }
}

// kVec<T> values of T in one 16-byte load or store (8 bfloat16 or half, 4 float): a memory-bound
// kernel reading 2 bytes a thread leaves most of the bandwidth unused (silu_mul on an H100 ran at
// a third of its bytes' time, 2026-12-05).
template <class T>
constexpr int kVec = 16 / sizeof(T);

template <class T>
struct alignas(16) Pack {
  T v[kVec<T>];
};

// Whether rows of `cols` values at row strides ld_a, ld_b, ... from these pointers can be read
// as Packs: every row start 16-byte aligned.
template <class T>
bool packs_fit(std::int64_t cols, std::initializer_list<std::int64_t> row_strides, std::initializer_list<const void*> ptrs) {
  if (cols % kVec<T> != 0) return false;
  for (std::int64_t ld : row_strides)
    if (ld % kVec<T> != 0) return false;
  for (const void* p : ptrs)
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// T → float → T: the rounding ATen applies when an op's float result is stored in T.
template <class T>
__device__ __forceinline__ float rounded(float v) {
  return static_cast<float>(static_cast<T>(v));
}

}  // namespace moesim::model::fused
