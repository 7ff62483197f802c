#include "layers.hpp"

#include "fused_ops.hpp"

#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "dequantize.hpp"

namespace moesim::model::layers {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (fused::applies(x) && x.scalar_type() != at::kFloat && x.is_contiguous() && weight.dim() == 1 &&
      weight.scalar_type() == x.scalar_type())
    return fused::rms_norm(x, weight, eps);  // one kernel, the same rounding (fused_ops.hpp): 16-bit only
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (xf * at::rsqrt(variance + eps)).to(x.scalar_type());
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
}

namespace {

// YaRN's correction range: the (fractional) dimension at which a frequency turns num_rotations times
// over the original context, for the fastest (beta_fast) and slowest (beta_slow) bound.
double yarn_correction_dim(double num_rotations, int rot_dim, double theta, int original_context) {
  return rot_dim * std::log(original_context / (num_rotations * 2 * std::numbers::pi)) / (2 * std::log(theta));
}

// Blend weight of the unscaled (extrapolated) frequency, per frequency index: 1 below `low`, 0 above
// `high`, linear in between. transformers' 1 - linear_ramp_factor(low, high, rot_dim / 2).
at::Tensor yarn_extrapolation_weight(const RopeScaling& s, int rot_dim, double theta) {
  double low = yarn_correction_dim(s.beta_fast, rot_dim, theta, s.original_max_position_embeddings);
  double high = yarn_correction_dim(s.beta_slow, rot_dim, theta, s.original_max_position_embeddings);
  if (s.truncate) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(rot_dim - 1));
  if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp
  at::Tensor index = at::arange(rot_dim / 2, at::TensorOptions().dtype(at::kFloat));
  return 1 - ((index - low) / (high - low)).clamp(0, 1);
}

// Llama 3.1: wavelengths longer than original_context / low_freq_factor are divided by factor, those
// shorter than original_context / high_freq_factor kept, the ones between blended smoothly.
at::Tensor llama3_inv_freq(const at::Tensor& inv_freq, const RopeScaling& s) {
  const double context = s.original_max_position_embeddings;
  const double low_wavelen = context / s.low_freq_factor, high_wavelen = context / s.high_freq_factor;
  at::Tensor wavelen = 2 * std::numbers::pi / inv_freq;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq);
  at::Tensor smooth = (context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

}  // namespace

RopeFrequencies rope_frequencies(int rot_dim, double theta, const RopeScaling& s, std::int64_t seq_len) {
  // inv_freq[i] = 1 / theta^(2i / rot_dim), in float32 exactly as transformers computes it.
  at::Tensor exponents = at::arange(0, rot_dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) / rot_dim;
  at::Tensor pos_freqs = at::pow(theta, exponents);                            // (rot_dim/2)
  at::Tensor inv_freq = 1.0 / pos_freqs;
  switch (s.type) {
    case RopeType::kDefault:
      return {inv_freq, 1.0};
    case RopeType::kLinear:
      return {inv_freq / s.factor, 1.0};
    case RopeType::kLlama3:
      return {llama3_inv_freq(inv_freq, s), 1.0};
    case RopeType::kYarn: {
      at::Tensor interpolated = 1.0 / (s.factor * pos_freqs);
      at::Tensor w = yarn_extrapolation_weight(s, rot_dim, theta);
      double attention_factor = s.attention_factor;
      if (attention_factor <= 0)
        attention_factor = s.mscale != 0 && s.mscale_all_dim != 0
                               ? yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim)
                               : yarn_mscale(s.factor, 1.0);
      return {interpolated * (1 - w) + inv_freq * w, attention_factor};
    }
    case RopeType::kLongRope: {  // _compute_longrope_parameters: 1 / (ext · theta^(2i/d)), ext as float32
      const bool long_context = seq_len > s.original_max_position_embeddings;
      at::Tensor ext = at::tensor(long_context ? s.long_factor : s.short_factor, at::kDouble).to(at::kFloat);
      return {1.0 / (ext * pos_freqs), long_context ? s.long_mscale : s.short_mscale};
    }
  }
  return {inv_freq, 1.0};
}

RopeTables rope_tables(const at::Tensor& positions, int rot_dim, double theta, const RopeScaling& scaling,
                       at::ScalarType dtype) {
  // LongRoPE: transformers takes max(position_ids) + 1 over the whole batch.
  const std::int64_t seq_len =
      scaling.type == RopeType::kLongRope && positions.numel() > 0 ? positions.max().item<std::int64_t>() + 1 : 0;
  RopeFrequencies f = rope_frequencies(rot_dim, theta, scaling, seq_len);
  at::Tensor inv_freq = f.inv_freq.to(positions.device());
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;        // (B, S, rot_dim/2)
  at::Tensor emb = at::cat({freqs, freqs}, -1);                                // (B, S, rot_dim)
  if (f.attention_factor == 1.0) return {emb.cos().to(dtype), emb.sin().to(dtype)};
  return {(emb.cos() * f.attention_factor).to(dtype), (emb.sin() * f.attention_factor).to(dtype)};
}

static at::Tensor rotate_half(const at::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTables& rope) {
  at::Tensor cos = rope.cos.unsqueeze(1), sin = rope.sin.unsqueeze(1);  // (B, 1, S, rot_dim)
  const int64_t rot = cos.size(-1), d = x.size(-1);
  if (rot == d && fused::applies(x) && x.stride(-1) == 1 && rope.cos.scalar_type() == x.scalar_type())
    return fused::rope(x, rope.cos, rope.sin);  // one kernel, the same bits (fused_ops.hpp)
  if (rot == d) return x * cos + rotate_half(x) * sin;
  at::Tensor x_rot = x.narrow(-1, 0, rot);                               // (B, heads, S, rot_dim)
  return at::cat({x_rot * cos + rotate_half(x_rot) * sin, x.narrow(-1, rot, d - rot)}, -1);  // (B, heads, S, d)
}

at::Tensor deinterleave(const at::Tensor& x) {
  auto s = x.sizes().vec();
  int64_t d = s.back();
  std::vector<int64_t> pairs(s.begin(), s.end() - 1);
  pairs.push_back(d / 2);
  pairs.push_back(2);
  return x.reshape(pairs).transpose(-1, -2).reshape(s);  // (..., d/2, 2) → (..., 2, d/2) → (..., d)
}

at::Tensor positions_from_mask(const at::Tensor& valid) {
  return (valid.to(at::kLong).cumsum(-1) - 1).clamp_min(0);  // (B, S)
}

at::Tensor attention_bias(const at::Tensor& valid, at::ScalarType dtype, int sliding_window) {
  int64_t S = valid.size(1);
  at::Tensor index = at::arange(S, valid.options().dtype(at::kLong));              // (S)
  at::Tensor behind = index.unsqueeze(1) - index.unsqueeze(0);                     // (S, S) i - j
  at::Tensor causal = behind >= 0;                                                 // (S, S) j ≤ i
  if (sliding_window > 0) causal = causal & (behind < sliding_window);             // and i - j < window
  at::Tensor allowed = causal.unsqueeze(0) & valid.to(at::kBool).unsqueeze(1);    // (B, S, S)
  double lowest = dtype == at::kFloat    ? std::numeric_limits<float>::lowest()
                  : dtype == at::kDouble ? std::numeric_limits<double>::lowest()
                                         : -65504.0;  // finite in both float16 and bfloat16
  at::Tensor bias = at::zeros(allowed.sizes(), valid.options().dtype(dtype));
  return bias.masked_fill(allowed.logical_not(), lowest).unsqueeze(1);  // (B, 1, S, S)
}

// sdpa's enable_gqa (key/value heads shared inside the kernel) arrived in PyTorch 2.5.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define MOESIM_SDPA_GQA 1
#endif

bool causal_without_bias(const at::Tensor& valid) {
#ifdef MOESIM_SDPA_GQA
  return valid.is_cuda() && valid.all().item<bool>();  // one device → host copy per forward pass
#else
  (void)valid;
  return false;
#endif
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                     double scale, const at::Tensor& sinks) {
  int64_t B = q.size(0), h = q.size(1), S = q.size(2), g = k.size(1);
#ifdef MOESIM_SDPA_GQA
  if (!bias.defined() && !sinks.defined())  // causal, no padding: the flash kernels skip the masked half
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale, /*enable_gqa=*/g != h)
        .transpose(1, 2)
        .reshape({B, S, -1});  // (B, S, h·dv)
#endif
  TORCH_CHECK(bias.defined(), "attention: no bias where causal_without_bias() is false");
  at::Tensor keys = k, values = v;
  if (g != h) {  // each key/value head serves h/g consecutive query heads
    keys = k.repeat_interleave(h / g, 1);    // (B, h, S, d)
    values = v.repeat_interleave(h / g, 1);  // (B, h, S, dv)
  }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  if (q.is_cuda() && !sinks.defined())  // fused kernel (memory-efficient attention takes the additive mask); same math
    return at::scaled_dot_product_attention(q, keys, values, bias, 0.0, false, scale)
        .transpose(1, 2)
        .reshape({B, S, -1});  // (B, S, h·dv)
#endif
  at::Tensor scores = at::matmul(q, keys.transpose(2, 3)) * scale + bias;       // (B, h, S, S)
  at::Tensor probs;                                                             // (B, h, S, S)
  if (sinks.defined()) {
    at::Tensor sink = sinks.reshape({1, h, 1, 1}).expand({B, h, S, 1}).to(scores.scalar_type());  // (B, h, S, 1)
    at::Tensor combined = at::cat({scores, sink}, -1);                          // (B, h, S, S+1)
    combined = combined - std::get<0>(combined.max(-1, /*keepdim=*/true));      // as transformers, against overflow
    probs = at::softmax(combined, -1, at::kFloat).narrow(-1, 0, S).to(q.scalar_type());  // the sink dropped
  } else {
    probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  }
  at::Tensor out = at::matmul(probs, values);                                   // (B, h, S, dv)
  return out.transpose(1, 2).reshape({B, S, -1});                              // (B, S, h·dv)
}

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  if (fused::applies(gate) && gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type())
    return fused::silu_mul(gate, up);  // one kernel, the same bits (fused_ops.hpp)
  return at::silu(gate) * up;
}

at::Tensor swiglu(const at::Tensor& x, const MlpWeights& w) {
  return linear(silu_mul(linear(x, w.gate, w.gate_bias), linear(x, w.up, w.up_bias)), w.down, w.down_bias);
}

Routing softmax_topk(const at::Tensor& logits, int k, bool renormalize) {
  at::Tensor probs = at::softmax(logits.to(at::kFloat), -1);  // (T, E)
  auto [gates, ids] = probs.topk(k, -1);                      // (T, k) sorted, largest first
  if (renormalize) gates = gates / gates.sum(-1, /*keepdim=*/true);
  return {ids, gates, probs, logits};
}

Routing softmax_biased_topk(const at::Tensor& logits, const at::Tensor& bias, int k, double norm_min) {
  at::Tensor probs = at::softmax(logits.to(at::kFloat), -1);                   // (T, E)
  at::Tensor ids = std::get<1>((probs + bias.to(at::kFloat)).topk(k, -1));     // (T, k) bias only steers selection
  at::Tensor gates = probs.gather(1, ids);                                     // (T, k) unbiased scores
  gates = gates / gates.sum(-1, /*keepdim=*/true).clamp_min(norm_min);
  // Column 0 = largest gate, the order the trace format promises.
  at::Tensor order = std::get<1>(gates.sort(-1, /*descending=*/true));
  return {ids.gather(1, order), gates.gather(1, order), probs, logits};
}

Routing topk_softmax(const at::Tensor& logits, int k) {
  at::Tensor scores = logits.to(at::kFloat);                                   // (T, E)
  auto [top, ids] = scores.topk(k, -1);                                        // (T, k) sorted, largest first
  return {ids, at::softmax(top, -1), at::softmax(scores, -1), logits};
}

namespace {
// One sparsemixer round over `candidates` (s with earlier picks at −inf): the best expert and its
// weight in the softmax over the experts within the relative threshold 2·eps of it.
std::pair<at::Tensor, at::Tensor> sparsemixer_round(const at::Tensor& scores, const at::Tensor& candidates,
                                                    double jitter_eps) {
  auto [best, id] = candidates.max(-1, /*keepdim=*/true);                       // (T, 1)
  at::Tensor divisor = at::maximum(scores.abs(), best);                         // (T, E) |s| clamped below at best
  at::Tensor outside = (best - scores) / divisor > 2 * jitter_eps;              // (T, E)
  at::Tensor masked = candidates.masked_fill(outside, -std::numeric_limits<float>::infinity());
  return {id, at::softmax(masked, -1).gather(-1, id)};                          // (T, 1), (T, 1)
}
}  // namespace

Routing sparsemixer(const at::Tensor& logits, double jitter_eps) {
  at::Tensor scores = logits.to(at::kFloat);                                   // (T, E)
  auto [first, gate1] = sparsemixer_round(scores, scores, jitter_eps);
  at::Tensor rest = scores.scatter(-1, first, -std::numeric_limits<float>::infinity());  // (T, E)
  auto [second, gate2] = sparsemixer_round(scores, rest, jitter_eps);
  at::Tensor ids = at::cat({first, second}, -1), gates = at::cat({gate1, gate2}, -1);  // (T, 2)
  at::Tensor order = std::get<1>(gates.sort(-1, /*descending=*/true));         // column 0 = largest gate
  return {ids.gather(1, order), gates.gather(1, order), at::softmax(scores, -1), logits};
}

Routing sigmoid_group_limited(const at::Tensor& logits, const at::Tensor& bias, const GroupLimitedOptions& o) {
  at::Tensor scores = logits.to(at::kFloat).sigmoid();                         // (T, E)
  int64_t T = scores.size(0), E = scores.size(1);
  at::Tensor choice = scores + bias.to(at::kFloat);                            // (T, E) bias only steers selection
  at::Tensor group_scores = std::get<0>(choice.view({T, o.n_group, E / o.n_group}).topk(2, -1)).sum(-1);  // (T, G)
  at::Tensor best_groups = std::get<1>(group_scores.topk(o.topk_group, -1));   // (T, topk_group)
  at::Tensor group_mask = at::zeros_like(group_scores).scatter_(1, best_groups, 1.0).to(at::kBool);  // (T, G)
  at::Tensor expert_mask = group_mask.unsqueeze(-1).expand({T, o.n_group, E / o.n_group}).reshape({T, E});
  choice = choice.masked_fill(expert_mask.logical_not(), -std::numeric_limits<float>::infinity());
  at::Tensor ids = std::get<1>(choice.topk(o.k, -1));                          // (T, k)
  at::Tensor gates = scores.gather(1, ids);                                    // (T, k) unbiased scores
  if (o.renormalize) gates = gates / (gates.sum(-1, /*keepdim=*/true) + 1e-20);
  gates = gates * o.scaling;
  // Column 0 = largest gate, the order the trace format promises.
  at::Tensor order = std::get<1>(gates.sort(-1, /*descending=*/true));
  return {ids.gather(1, order), gates.gather(1, order), scores, logits};
}

Routing softmax_group_limited(const at::Tensor& logits, const GroupLimitedOptions& o) {
  at::Tensor probs = at::softmax(logits.to(at::kFloat), -1);                   // (T, E)
  at::Tensor choice = probs;                                                   // (T, E)
  if (o.n_group > 1) {
    const int64_t T = probs.size(0), E = probs.size(1);
    at::Tensor group_scores = std::get<0>(probs.view({T, o.n_group, E / o.n_group}).max(-1));  // (T, G) best expert
    at::Tensor best_groups = std::get<1>(group_scores.topk(o.topk_group, -1));  // (T, topk_group)
    at::Tensor group_mask = at::zeros_like(group_scores).scatter_(1, best_groups, 1.0).to(at::kBool);  // (T, G)
    at::Tensor expert_mask = group_mask.unsqueeze(-1).expand({T, o.n_group, E / o.n_group}).reshape({T, E});
    choice = probs.masked_fill(expert_mask.logical_not(), 0.0);                // transformers masks with 0, not −inf
  }
  auto [gates, ids] = choice.topk(o.k, -1);                                    // (T, k) sorted, largest first
  if (o.renormalize) gates = gates / (gates.sum(-1, /*keepdim=*/true) + 1e-20);
  return {ids, gates * o.scaling, probs, logits};
}

std::string first_non_finite(const at::Tensor& values, std::int64_t seq_len, const std::string& what) {
  at::Tensor bad = at::isfinite(values).logical_not();                         // same shape as values
  if (!bad.any().item<bool>()) return {};
  const std::int64_t T = values.size(0);
  const std::int64_t row = bad.reshape({T, -1}).any(1).nonzero()[0][0].item<std::int64_t>();  // first bad row
  at::Tensor first_row = values.reshape({T, -1})[row].to(at::kCPU, at::kDouble);
  const std::int64_t col = bad.reshape({T, -1})[row].nonzero()[0][0].item<std::int64_t>();
  const double v = first_row[col].item<double>();
  return fmt::format("{}: {} at sequence {}, position {} (of {}, left-padded)", what,
                     std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf", row / seq_len, row % seq_len, seq_len);
}

namespace {

// Σ_j gates[t, j] · expert_{ids[t, j]}(x[t]) for any expert function: the T·k (token, expert) pairs
// are sorted by expert, each expert runs once on its contiguous block (n_e, H) and writes its (n_e, H)
// result in place (expert(e, block, out)); each token then gathers its k results back and sums
// them. x (T, H) → (T, H).
//
// On a GPU the one wait for the device is the copy of the block sizes to the host, after every
// kernel that does not need them is queued: the sort, the gathers, the input rows. Counting with
// scatter_add, not bincount, because CUDA's bincount copies its input's min and max to the host
// first (two more waits). Summing each token's k rows, not index_add into zeros, because CUDA's
// index_add was 7 % of a capture step on an H100 (atomics, 2026-12-05), and a sum over k has one
// order.
template <class Expert>
at::Tensor dispatch_experts(const at::Tensor& x, const Routing& routing, int64_t E, GateAt gate_at,
                            const Expert& expert) {
  const int64_t T = x.size(0), H = x.size(1), k = routing.expert_ids.size(1), pairs = T * k;
  const at::Tensor flat_ids = routing.expert_ids.reshape({pairs});              // (T·k) expert of each pair, −1 empty
  const at::Tensor order = flat_ids.argsort();                                  // (T·k) pairs by expert, empty slots first
  const at::Tensor slots_on_device = at::zeros({E + 1}, flat_ids.options())     // (E+1) bin 0: empty slots
                                         .scatter_add_(0, flat_ids + 1, at::ones_like(flat_ids));
  const at::Tensor token_of_pair = order.div(k, "floor");                       // (T·k) token of each sorted pair
  at::Tensor xs = x.index_select(0, token_of_pair);                             // (T·k, H) tokens in expert order
  const at::Tensor gates = routing.gates.to(x.scalar_type());                   // (T, k)
  if (gate_at == GateAt::kInput) xs = xs * gates.reshape({pairs}).index_select(0, order).unsqueeze(1);
  // Where each pair landed in the sorted order: its row of ys.
  const at::Tensor row_of_pair = at::empty_like(order).scatter_(0, order, at::arange(pairs, order.options()));  // (T·k)

  const at::Tensor slots = slots_on_device.to(at::kCPU);                       // (E+1) the wait
  const int64_t* n = slots.data_ptr<int64_t>();
  at::Tensor ys = at::empty_like(xs);                                           // (T·k, H)
  if (n[0] > 0) ys.narrow(0, 0, n[0]).zero_();                                  // empty slots add nothing
  for (int64_t e = 0, begin = n[0]; e < E; begin += n[e + 1], ++e) {            // one matmul block per expert
    if (n[e + 1] == 0) continue;
    at::Tensor out = ys.narrow(0, begin, n[e + 1]);                             // (n_e, H) contiguous rows
    expert(e, xs.narrow(0, begin, n[e + 1]), out);
  }
  const at::Tensor g = gate_at == GateAt::kOutput ? gates.masked_fill(routing.expert_ids < 0, 0) : at::Tensor();  // (T, k)
  if (fused::applies(ys)) return fused::combine_experts(ys, row_of_pair, g.defined() ? g.contiguous() : g, k);  // fused_ops.hpp
  at::Tensor per_token = ys.index_select(0, row_of_pair).view({T, k, H});      // (T, k, H) in routing order
  if (g.defined())  // in place where no gradient is recorded (the same bits either way)
    per_token = c10::GradMode::is_enabled() ? per_token * g.unsqueeze(2) : per_token.mul_(g.unsqueeze(2));
  return per_token.sum(1);                                                      // (T, H)
}

}  // namespace

at::Tensor moe_experts(const at::Tensor& x, const Routing& routing, const ExpertWeights& w, GateAt gate_at) {
  const int64_t I = w.gate.size(1);
  return dispatch_experts(x, routing, w.gate.size(0), gate_at, [&](int64_t e, const at::Tensor& block, at::Tensor& out) {
    at::Tensor hidden;                                                                      // (n_e, I)
    if (w.gate_up.defined() && !c10::GradMode::is_enabled()) {  // both projections in one product
      at::Tensor gate_up = at::mm(block, w.gate_up[e].t());                                 // (n_e, 2I)
      hidden = silu_mul(gate_up.narrow(1, 0, I), gate_up.narrow(1, I, I));
    } else {
      hidden = silu_mul(at::linear(block, w.gate[e]), at::linear(block, w.up[e]));
    }
    if (c10::GradMode::is_enabled())  // out= ops record no gradient
      out.copy_(at::linear(hidden, w.down[e]));  // (n_e, H)
    else
      at::mm_out(out, hidden, w.down[e].t());  // (n_e, H): at::linear's own product, written in place
  });
}

at::Tensor ExpertMatrices::expert(std::int64_t e) const {
  return quantized() ? dequantize_mxfp4_expert(blocks, scales, e, dtype) : dense[e];
}

namespace {
std::int64_t bytes_of(const at::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0;
}
}  // namespace

std::int64_t ExpertMatrices::bytes() const { return bytes_of(dense) + bytes_of(blocks) + bytes_of(scales); }

std::int64_t ExpertWeights::bytes() const { return bytes_of(gate) + bytes_of(up) + bytes_of(down); }

std::int64_t FusedExpertWeights::bytes() const {
  return gate_up.bytes() + bytes_of(gate_up_bias) + down.bytes() + bytes_of(down_bias);
}

at::Tensor clamped_swiglu_experts(const at::Tensor& x, const Routing& routing, const FusedExpertWeights& w,
                                  double alpha, double limit) {
  // Quantized experts (--mxfp4 keep) decode here, one at a time, only those that receive tokens:
  // memory holds the MXFP4 bytes plus one expert's gate_up and down in the model dtype.
  return dispatch_experts(x, routing, w.gate_up.num_experts(), GateAt::kOutput, [&](int64_t e, const at::Tensor& block, at::Tensor& out) {
    at::Tensor gate_up = at::matmul(block, w.gate_up.expert(e)) + w.gate_up_bias[e];    // (n_e, 2I)
    at::Tensor gate = gate_up.slice(-1, 0, gate_up.size(-1), 2).clamp_max(limit);         // (n_e, I) even columns
    at::Tensor up = gate_up.slice(-1, 1, gate_up.size(-1), 2).clamp(-limit, limit);       // (n_e, I) odd columns
    at::Tensor glu = gate * at::sigmoid(gate * alpha);                                    // (n_e, I)
    out.copy_(at::matmul((up + 1) * glu, w.down.expert(e)) + w.down_bias[e]);            // (n_e, H)
  });
}

}  // namespace moesim::model::layers
