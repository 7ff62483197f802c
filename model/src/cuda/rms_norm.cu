// RMSNorm in one block per row: the row's sum of squares in float, then each element normalised,
// rounded to T, and multiplied by the weight (transformers' LlamaRMSNorm:
// weight * (x.float() * rsqrt(mean(x²) + eps)).to(dtype)). ATen's sequence for the same thing
// (layers::rms_norm) writes a float copy of x, its square, the normalised float and the rounded
// tensor before the product: about 9 x-sized transfers against 3 here. The sum is reduced in
// another order than at::mean's, so the result can differ from ATen's in the last bit.
#include "../fused_ops.hpp"
#include "launch.cuh"

namespace moesim::model::fused {
namespace {

constexpr int kWarp = 32;

// The sum of v over the block's threads, returned to every thread.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kThreadsPerBlock / kWarp];
  __shared__ float total;
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreadsPerBlock / kWarp ? warp_sums[lane] : 0.0f;
    for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

template <class T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ weight, T* __restrict__ out,
                                std::int64_t n, float eps) {
  const T* row = x + static_cast<std::int64_t>(blockIdx.x) * n;
  T* out_row = out + static_cast<std::int64_t>(blockIdx.x) * n;
  float squares = 0.0f;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = static_cast<float>(row[i]);
    squares += v * v;
  }
  // at::mean multiplies the sum by 1/n; rsqrtf is what at::rsqrt runs on float.
  const float inverse_rms = rsqrtf(block_sum(squares) * (1.0f / static_cast<float>(n)) + eps);
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float normalised = rounded<T>(static_cast<float>(row[i]) * inverse_rms);
    out_row[i] = static_cast<T>(static_cast<float>(weight[i]) * normalised);
  }
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const std::int64_t n = x.size(-1);
  TORCH_CHECK(x.is_contiguous() && weight.dim() == 1 && weight.size(0) == n && weight.scalar_type() == x.scalar_type(),
              "rms_norm: x must be contiguous and weight (n) of x's dtype");
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor w = weight.contiguous();
  at::Tensor out = at::empty_like(x);
  const std::int64_t rows = n == 0 ? 0 : x.numel() / n;
  if (rows == 0) return out;
  TORCH_CHECK(rows <= INT32_MAX, "rms_norm: too many rows for one grid");
  dispatch_float_types(x.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    rms_norm_kernel<T><<<static_cast<unsigned>(rows), kThreadsPerBlock, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<T>(), w.data_ptr<T>(), out.data_ptr<T>(), n, static_cast<float>(eps));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace moesim::model::fused
