// silu(gate) ⊙ up in one pass: the SwiGLU activation of every expert and dense MLP. ATen runs it as
// at::silu (reads gate, writes a temporary) then at::mul (reads both, writes): 5 tensor-sized
// transfers against 3 here. Bits as ATen's: silu is x / (1 + exp(-x)) in float, rounded to T
// (aten/src/ATen/native/cuda/ActivationSiluKernel.cu), then the product in float, rounded to T.
#include "../fused_ops.hpp"
#include "launch.cuh"

namespace moesim::model::fused {
namespace {

// silu(g) rounded to T, times u, rounded to T: ATen's two ops.
template <class T>
__device__ __forceinline__ T silu_mul_one(T gate, T up) {
  const float g = static_cast<float>(gate);
  const float silu = rounded<T>(g / (1.0f + expf(-g)));
  return static_cast<T>(silu * static_cast<float>(up));
}

// gate and up are (rows, cols) with unit column stride and their own row strides (ld_*); out is
// (rows, cols) contiguous. Blocks run along a row (x) and over rows (y, grid-stride): no division
// per element. VEC values a thread: kVec<T> (16-byte loads) where packs_fit, else 1.
template <class T, int VEC>
__global__ void silu_mul_kernel(const T* __restrict__ gate, std::int64_t ld_gate, const T* __restrict__ up,
                                std::int64_t ld_up, T* __restrict__ out, std::int64_t rows, std::int64_t cols) {
  const std::int64_t c = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * VEC;
  if (c >= cols) return;
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    if constexpr (VEC == 1) {
      out[r * cols + c] = silu_mul_one(gate[r * ld_gate + c], up[r * ld_up + c]);
    } else {
      const Pack<T> g = *reinterpret_cast<const Pack<T>*>(gate + r * ld_gate + c);
      const Pack<T> u = *reinterpret_cast<const Pack<T>*>(up + r * ld_up + c);
      Pack<T> o;
#pragma unroll
      for (int i = 0; i < VEC; ++i) o.v[i] = silu_mul_one(g.v[i], u.v[i]);
      *reinterpret_cast<Pack<T>*>(out + r * cols + c) = o;
    }
  }
}

// CUDA's limit on gridDim.y; more rows loop inside the kernel.
constexpr std::int64_t kMaxGridY = 65535;

// t as (rows, last dim) with unit column stride: a 2-D view such as one half of the experts'
// (n, 2I) gate_up product is used where it lies; anything else is made contiguous first.
at::Tensor as_rows(const at::Tensor& t) {
  if (t.dim() == 2 && t.stride(1) == 1) return t;
  return t.contiguous().view({-1, t.dim() > 0 ? t.size(-1) : 1});
}

}  // namespace

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  TORCH_CHECK(gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type(), "silu_mul: gate and up differ");
  const c10::cuda::CUDAGuard guard(gate.device());
  at::Tensor out = at::empty(gate.sizes(), gate.options().memory_format(at::MemoryFormat::Contiguous));
  if (gate.numel() == 0) return out;
  const at::Tensor g = as_rows(gate), u = as_rows(up);
  const std::int64_t rows = g.size(0), cols = g.size(1);
  dispatch_float_types(g.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const T *gate_p = g.data_ptr<T>(), *up_p = u.data_ptr<T>();
    T* out_p = out.data_ptr<T>();
    const bool packed = packs_fit<T>(cols, {g.stride(0), u.stride(0)}, {gate_p, up_p, out_p});
    const std::int64_t threads_per_row = packed ? cols / kVec<T> : cols;
    const dim3 grid(static_cast<unsigned>((threads_per_row + kThreadsPerBlock - 1) / kThreadsPerBlock),
                    static_cast<unsigned>(std::min(rows, kMaxGridY)));
    auto stream = at::cuda::getCurrentCUDAStream();
    if (packed)
      silu_mul_kernel<T, kVec<T>><<<grid, kThreadsPerBlock, 0, stream>>>(gate_p, g.stride(0), up_p, u.stride(0), out_p, rows, cols);
    else
      silu_mul_kernel<T, 1><<<grid, kThreadsPerBlock, 0, stream>>>(gate_p, g.stride(0), up_p, u.stride(0), out_p, rows, cols);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace moesim::model::fused
