// silu(gate) ⊙ up in one pass: the SwiGLU activation of every expert and dense MLP. ATen runs it as
// at::silu (reads gate, writes a temporary) then at::mul (reads both, writes): 5 tensor-sized
// transfers against 3 here. Bits as ATen's: silu is x / (1 + exp(-x)) in float, rounded to T
// (aten/src/ATen/native/cuda/ActivationSiluKernel.cu), then the product in float, rounded to T.
#include "../fused_ops.hpp"
#include "launch.cuh"

namespace moesim::model::fused {
namespace {

template <class T>
__global__ void silu_mul_kernel(const T* __restrict__ gate, const T* __restrict__ up, T* __restrict__ out,
                                std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float g = static_cast<float>(gate[i]);
    const float silu = rounded<T>(g / (1.0f + expf(-g)));
    out[i] = static_cast<T>(silu * static_cast<float>(up[i]));
  }
}

}  // namespace

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  TORCH_CHECK(gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type(), "silu_mul: gate and up differ");
  const c10::cuda::CUDAGuard guard(gate.device());
  at::Tensor g = gate.contiguous(), u = up.contiguous();
  at::Tensor out = at::empty_like(g);
  const std::int64_t n = g.numel();
  if (n == 0) return out;
  dispatch_float_types(g.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    silu_mul_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, at::cuda::getCurrentCUDAStream()>>>(
        g.data_ptr<T>(), u.data_ptr<T>(), out.data_ptr<T>(), n);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace moesim::model::fused
