// The experts' outputs back to their tokens in one pass: out[t] = Σ_j round(gate[t, j] · ys[row[t, j]]),
// where ATen runs ys.index_select(rows) (a (T·k, H) copy), mul_ by the gates, then sum over k
// (layers::dispatch_experts): 6 (T·k, H)-sized transfers against 1 here. Bits as ATen's: each
// product in float, rounded to T (at::mul), the k products summed in float in j order and rounded
// once (at::sum's float accumulator); for k = 2 that order is ATen's too (a + b = b + a), for more
// the float sum may round differently in the last place.
#include "../fused_ops.hpp"
#include "launch.cuh"

namespace moesim::model::fused {
namespace {

// ys (P, H) contiguous, row_of_pair (T·k), gates (T, k) or null (weights already applied) → out
// (T, H). Blocks run along H (x, VEC values a thread) and over tokens (y, grid-stride).
template <class T, int VEC>
__global__ void combine_kernel(const T* __restrict__ ys, const std::int64_t* __restrict__ row_of_pair,
                               const T* __restrict__ gates, T* __restrict__ out, std::int64_t tokens, int k,
                               std::int64_t hidden) {
  const std::int64_t h = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * VEC;
  if (h >= hidden) return;
  for (std::int64_t t = blockIdx.y; t < tokens; t += gridDim.y) {
    float acc[VEC] = {};
    for (int j = 0; j < k; ++j) {
      const T* y = ys + row_of_pair[t * k + j] * hidden + h;
      const float g = gates ? static_cast<float>(gates[t * k + j]) : 1.0f;
      if constexpr (VEC == 1) {
        acc[0] += gates ? rounded<T>(static_cast<float>(*y) * g) : static_cast<float>(*y);
      } else {
        const Pack<T> p = *reinterpret_cast<const Pack<T>*>(y);
#pragma unroll
        for (int i = 0; i < VEC; ++i)
          acc[i] += gates ? rounded<T>(static_cast<float>(p.v[i]) * g) : static_cast<float>(p.v[i]);
      }
    }
    if constexpr (VEC == 1) {
      out[t * hidden + h] = static_cast<T>(acc[0]);
    } else {
      Pack<T> o;
#pragma unroll
      for (int i = 0; i < VEC; ++i) o.v[i] = static_cast<T>(acc[i]);
      *reinterpret_cast<Pack<T>*>(out + t * hidden + h) = o;
    }
  }
}

// CUDA's limit on gridDim.y; more tokens loop inside the kernel.
constexpr std::int64_t kMaxGridY = 65535;

}  // namespace

at::Tensor combine_experts(const at::Tensor& ys, const at::Tensor& row_of_pair, const at::Tensor& gates,
                           std::int64_t k) {
  TORCH_CHECK(ys.dim() == 2 && ys.is_contiguous() && row_of_pair.is_contiguous() &&
                  row_of_pair.scalar_type() == at::kLong,
              "combine_experts: ys (P, H) contiguous and row_of_pair int64 contiguous");
  const std::int64_t pairs = row_of_pair.numel(), hidden = ys.size(1);
  TORCH_CHECK(k > 0 && pairs % k == 0, "combine_experts: k must divide the pairs");
  TORCH_CHECK(!gates.defined() || (gates.is_contiguous() && gates.scalar_type() == ys.scalar_type() &&
                                   gates.numel() == pairs),
              "combine_experts: gates (T, k) contiguous, of ys's dtype, one per pair");
  const std::int64_t tokens = pairs / k;
  const c10::cuda::CUDAGuard guard(ys.device());
  at::Tensor out = at::empty({tokens, hidden}, ys.options());
  if (out.numel() == 0) return out;
  dispatch_float_types(ys.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const T* ys_p = ys.data_ptr<T>();
    const T* gates_p = gates.defined() ? gates.data_ptr<T>() : nullptr;
    T* out_p = out.data_ptr<T>();
    const bool packed = packs_fit<T>(hidden, {hidden}, {ys_p, out_p});
    const std::int64_t threads_per_row = packed ? hidden / kVec<T> : hidden;
    const dim3 grid(static_cast<unsigned>((threads_per_row + kThreadsPerBlock - 1) / kThreadsPerBlock),
                    static_cast<unsigned>(std::min(tokens, kMaxGridY)));
    auto stream = at::cuda::getCurrentCUDAStream();
    const std::int64_t* rows = row_of_pair.data_ptr<std::int64_t>();
    if (packed)
      combine_kernel<T, kVec<T>><<<grid, kThreadsPerBlock, 0, stream>>>(ys_p, rows, gates_p, out_p, tokens, static_cast<int>(k), hidden);
    else
      combine_kernel<T, 1><<<grid, kThreadsPerBlock, 0, stream>>>(ys_p, rows, gates_p, out_p, tokens, static_cast<int>(k), hidden);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace moesim::model::fused
