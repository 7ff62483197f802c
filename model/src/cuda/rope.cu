// Rotary position embedding in the "halves" layout in one pass (layers::apply_rope with rot_dim =
// head dim): ATen's x·cos + cat(−x₂, x₁)·sin reads and writes x-sized tensors about seven times.
// Bits as ATen's: each product rounded to T, then their sum rounded to T (negation is exact).
#include "../fused_ops.hpp"
#include "launch.cuh"

namespace moesim::model::fused {
namespace {

struct RopeShape {
  std::int64_t B, heads, S, half;                 // d = 2·half
  std::int64_t x_b, x_h, x_s;                     // x's strides (elements); stride 1 along d
  std::int64_t o_b, o_h, o_s;                     // out's strides
};

// One thread per (b, head, s, j < half): writes out[..., j] and out[..., j + half].
template <class T>
__global__ void rope_kernel(const T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin,
                            T* __restrict__ out, RopeShape p) {
  const std::int64_t n = p.B * p.heads * p.S * p.half;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const std::int64_t j = i % p.half;
    std::int64_t r = i / p.half;
    const std::int64_t s = r % p.S;
    r /= p.S;
    const std::int64_t h = r % p.heads, b = r / p.heads;
    const T* xi = x + b * p.x_b + h * p.x_h + s * p.x_s;
    T* oi = out + b * p.o_b + h * p.o_h + s * p.o_s;
    const std::int64_t table = (b * p.S + s) * 2 * p.half;  // cos/sin (B, S, d)
    const float x1 = static_cast<float>(xi[j]), x2 = static_cast<float>(xi[j + p.half]);
    const float c1 = static_cast<float>(cos[table + j]), c2 = static_cast<float>(cos[table + j + p.half]);
    const float s1 = static_cast<float>(sin[table + j]), s2 = static_cast<float>(sin[table + j + p.half]);
    oi[j] = static_cast<T>(rounded<T>(x1 * c1) + rounded<T>(-x2 * s1));           // x₁·cos − x₂·sin
    oi[j + p.half] = static_cast<T>(rounded<T>(x2 * c2) + rounded<T>(x1 * s2));    // x₂·cos + x₁·sin
  }
}

}  // namespace

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  TORCH_CHECK(x.dim() == 4 && x.stride(3) == 1 && x.size(3) % 2 == 0, "rope: x must be (B, heads, S, d), d even, contiguous in d");
  TORCH_CHECK(cos.dim() == 3 && cos.size(0) == x.size(0) && cos.size(1) == x.size(2) && cos.size(2) == x.size(3) &&
                  cos.sizes() == sin.sizes() && cos.scalar_type() == x.scalar_type() && sin.scalar_type() == x.scalar_type(),
              "rope: cos/sin must be (B, S, d) of x's dtype");
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor c = cos.contiguous(), s = sin.contiguous();
  at::Tensor out = at::empty_like(x);  // x's layout (a transposed view stays one)
  const RopeShape p{x.size(0), x.size(1), x.size(2), x.size(3) / 2, x.stride(0), x.stride(1), x.stride(2),
                    out.stride(0), out.stride(1), out.stride(2)};
  TORCH_CHECK(out.stride(3) == 1, "rope: output not contiguous in d");
  const std::int64_t n = p.B * p.heads * p.S * p.half;
  if (n == 0) return out;
  dispatch_float_types(x.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    rope_kernel<T><<<blocks_for(n), kThreadsPerBlock, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<T>(), c.data_ptr<T>(), s.data_ptr<T>(), out.data_ptr<T>(), p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace moesim::model::fused
