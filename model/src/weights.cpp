#include "weights.hpp"

#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dequantize.hpp"
#include "moesim/common/error.hpp"

namespace moesim::model {
namespace {

at::ScalarType aten_dtype(DType d) {
  switch (d) {
    case DType::kF64: return at::kDouble;
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kI16: return at::kShort;
    case DType::kI8: return at::kChar;
    case DType::kU8: return at::kByte;
    case DType::kBool: return at::kBool;
    case DType::kF8E4M3: return at::kByte;  // its bits; dequantize.cpp gives the values
  }
  return at::kFloat;
}

bool is_float(DType d) { return d == DType::kF64 || d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

// What config.json declares, for messages about a tensor stored otherwise.
std::string declared_format(const Quantization& q) {
  switch (q.format) {
    case WeightFormat::kPlain: return "no quantization_config";
    case WeightFormat::kFp8Blocks: return "quantization_config quant_method \"fp8\"";
    case WeightFormat::kMxfp4: return "quantization_config quant_method \"mxfp4\"";
  }
  return "an unknown quantization_config";
}

// At most this many names per category in an error line, so that a wrong architecture gives one
// readable line rather than thousands of names.
constexpr std::size_t kNamesShown = 8;

std::string some(const std::vector<std::string>& names) {
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), kNamesShown));
  std::string s = fmt::format("{}", fmt::join(shown, ", "));
  if (names.size() > kNamesShown) s += fmt::format(" (and {} more)", names.size() - kNamesShown);
  return s;
}

}  // namespace

at::Tensor view_as_tensor(const TensorView& view) {
  return at::from_blob(const_cast<std::byte*>(view.bytes.data()), view.shape,
                       at::TensorOptions().dtype(aten_dtype(view.dtype)));
}

WeightLoader::WeightLoader(const Checkpoint& checkpoint, at::Device device, at::ScalarType dtype,
                           Quantization quantization, Mxfp4Mode mxfp4)
    : checkpoint_(checkpoint), quantization_(quantization), mxfp4_mode_(mxfp4), device_(device), dtype_(dtype) {}

at::Tensor WeightLoader::on_device(const TensorView& view) const {
  at::Tensor out = view_as_tensor(view).to(device_, /*non_blocking=*/false, /*copy=*/true);
  release_pages(view);
  return out;
}

at::Tensor WeightLoader::fp8(const std::string& name, const TensorView& view, at::ScalarType dtype) {
  const Quantization& q = quantization_;
  const std::string scale_name = name + "_scale_inv";
  const TensorView* scale = checkpoint_.find(scale_name);
  // Its scale is part of the same problem, not a second one ("unexpected") on the same line.
  if (scale) used_.insert(scale_name);
  if (q.format != WeightFormat::kFp8Blocks) {
    add_format_problem(name, fmt::format("is F8_E4M3 but config.json has {}", declared_format(q)));
    return {};
  }
  if (view.shape.size() != 2 || !scale) {
    add_format_problem(name, view.shape.size() != 2 ? "is F8_E4M3 but not a matrix" : "has no " + scale_name);
    return {};
  }
  // Edge blocks are partial: ⌈rows / block_rows⌉ × ⌈cols / block_cols⌉ scales, no more, no fewer.
  const std::vector<int64_t> want = {(view.shape[0] + q.block_rows - 1) / q.block_rows,
                                     (view.shape[1] + q.block_cols - 1) / q.block_cols};
  if (scale->shape != want || !(scale->dtype == DType::kF32 || scale->dtype == DType::kBF16)) {
    add_format_problem(scale_name, fmt::format("is [{}] {}, expected [{}] F32 or BF16 for {}x{} blocks of a [{}] weight",
                                               fmt::join(scale->shape, ", "), dtype_name(scale->dtype),
                                               fmt::join(want, ", "), q.block_rows, q.block_cols, fmt::join(view.shape, ", ")));
    return {};
  }
  return dequantize_fp8_blocks(on_device(view), on_device(*scale), q.block_rows, q.block_cols).to(dtype);
}

std::pair<const TensorView*, const TensorView*> WeightLoader::mxfp4_views(const std::string& name,
                                                                          const std::vector<int64_t>& shape) {
  const std::string blocks_name = name + "_blocks", scales_name = name + "_scales";
  const TensorView* blocks = checkpoint_.find(blocks_name);
  const TensorView* scales = checkpoint_.find(scales_name);
  if (blocks) used_.insert(blocks_name);
  if (scales) used_.insert(scales_name);
  if (quantization_.format != WeightFormat::kMxfp4) {
    add_format_problem(name, fmt::format("is stored as MXFP4 ({}_blocks, {}_scales) but config.json has {}", name, name,
                                         declared_format(quantization_)));
    return {};
  }
  if (!blocks || !scales) {  // one half of the pair: the other is what is missing
    missing_.push_back(blocks ? scales_name : blocks_name);
    return {};
  }
  // Stored (out, in) per expert: the plain tensor's last two axes swapped, the input axis in blocks
  // of 32. An input size that is not a whole number of blocks has no such layout.
  if (shape.size() < 2) {
    add_format_problem(name, fmt::format("is stored as MXFP4 but is [{}], not a matrix", fmt::join(shape, ", ")));
    return {};
  }
  const int64_t in = shape[shape.size() - 2];
  if (in % kMxfp4BlockValues != 0) {
    add_format_problem(name, fmt::format("is stored as MXFP4 but its input size {} (of [{}]) is not a multiple of the "
                                         "{}-value block", in, fmt::join(shape, ", "), kMxfp4BlockValues));
    return {};
  }
  std::vector<int64_t> want_scales(shape.begin(), shape.end() - 2);
  want_scales.push_back(shape.back());
  want_scales.push_back(in / kMxfp4BlockValues);
  std::vector<int64_t> want_blocks = want_scales;
  want_blocks.push_back(kMxfp4BlockBytes);
  bool ok = true;
  for (auto [view, want] : {std::pair{blocks, &want_blocks}, {scales, &want_scales}})
    if (view->shape != *want || view->dtype != DType::kU8) {
      add_format_problem(view->name, fmt::format("is [{}] {}, expected [{}] U8", fmt::join(view->shape, ", "),
                                                 dtype_name(view->dtype), fmt::join(*want, ", ")));
      ok = false;
    }
  if (!ok) return {};
  return {blocks, scales};
}

at::Tensor WeightLoader::mxfp4(const std::string& name, const std::vector<int64_t>& shape, at::ScalarType dtype) {
  auto [blocks, scales] = mxfp4_views(name, shape);
  if (!blocks) return {};
  // One expert at a time into the result: the decoding's float32 temporaries stay one expert's size
  // (gpt-oss-120b: 0.4 GB, not 50 GB for a layer's 128 experts).
  at::Tensor all_blocks = on_device(*blocks), all_scales = on_device(*scales);
  if (all_blocks.dim() == 3) return dequantize_mxfp4(all_blocks, all_scales).transpose(-1, -2).contiguous().to(dtype);
  at::Tensor out = at::empty(shape, all_blocks.options().dtype(dtype));
  for (int64_t e = 0; e < out.size(0); ++e)
    out[e].copy_(dequantize_mxfp4(all_blocks[e], all_scales[e]).transpose(-1, -2));  // (in, out)
  return out;
}

layers::ExpertMatrices WeightLoader::expert_matrices(const std::string& name, const std::vector<int64_t>& shape) {
  const bool stored_mxfp4 = !has(name) && (has(name + "_blocks") || has(name + "_scales"));
  if (mxfp4_mode_ != Mxfp4Mode::kKeep || !stored_mxfp4 || shape.size() != 3)
    return layers::ExpertMatrices(get(name, shape));
  layers::ExpertMatrices out;
  auto [blocks, scales] = mxfp4_views(name, shape);
  if (!blocks) return out;
  out.blocks = on_device(*blocks);
  out.scales = on_device(*scales);
  out.dtype = dtype_;
  return out;
}

at::Tensor WeightLoader::convert(const TensorView& view, at::ScalarType dtype) const {
  at::Tensor t = view_as_tensor(view);
  // The copy detaches the tensor from the mapped file; float32 → bf16 etc. happens in the same pass.
  at::Tensor out = t.to(device_, t.is_floating_point() ? dtype : t.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
  release_pages(view);
  return out;
}

at::Tensor WeightLoader::fetch(const std::string& name, const std::vector<int64_t>& shape, bool required,
                               at::ScalarType dtype) {
  const TensorView* view = checkpoint_.find(name);
  if (!view && (has(name + "_blocks") || has(name + "_scales"))) return mxfp4(name, shape, dtype);
  if (!view) {
    if (required) missing_.push_back(name);
    return {};
  }
  used_.insert(name);
  if (view->shape != shape) {
    wrong_shape_.push_back(fmt::format("{} is [{}], expected [{}]", name, fmt::join(view->shape, ", "),
                                       fmt::join(shape, ", ")));
    return {};
  }
  if (view->dtype == DType::kF8E4M3) return fp8(name, *view, dtype);
  if (!is_float(view->dtype)) {
    // Integers here are another quantization's packed codes (GPTQ's qweight, ...): loaded as they
    // are, they would fail in the forward pass, far from the cause.
    add_format_problem(name, fmt::format("is {}, not a floating-point type", dtype_name(view->dtype)));
    return {};
  }
  return convert(*view, dtype);
}

at::Tensor WeightLoader::optional(const std::string& name, const std::vector<int64_t>& shape) {
  return fetch(name, shape, false, dtype_);
}

at::Tensor WeightLoader::get(const std::string& name, const std::vector<int64_t>& shape) {
  return fetch(name, shape, true, dtype_);
}

at::Tensor WeightLoader::get_float32(const std::string& name, const std::vector<int64_t>& shape) {
  return fetch(name, shape, true, at::kFloat);
}

layers::MlpWeights WeightLoader::mlp(const std::string& prefix, int hidden, int intermediate, bool bias) {
  layers::MlpWeights m;
  m.gate = get(prefix + ".gate_proj.weight", {intermediate, hidden});
  m.up = get(prefix + ".up_proj.weight", {intermediate, hidden});
  m.down = get(prefix + ".down_proj.weight", {hidden, intermediate});
  if (bias) {
    m.gate_bias = get(prefix + ".gate_proj.bias", {intermediate});
    m.up_bias = get(prefix + ".up_proj.bias", {intermediate});
    m.down_bias = get(prefix + ".down_proj.bias", {hidden});
  }
  return m;
}

layers::ExpertWeights WeightLoader::fused_experts(const std::string& gate_up_name, const std::string& down_name,
                                                  int num_experts, int hidden, int intermediate) {
  at::Tensor gate_up = get(gate_up_name, {num_experts, 2 * intermediate, hidden});
  at::Tensor down = get(down_name, {num_experts, hidden, intermediate});
  if (!gate_up.defined() || !down.defined()) return {};
  return {gate_up.narrow(1, 0, intermediate), gate_up.narrow(1, intermediate, intermediate), down, gate_up};
}

layers::ExpertWeights WeightLoader::experts(const std::string& prefix, int num_experts, int hidden, int intermediate,
                                            const char* gate_name, const char* up_name, const char* down_name) {
  if (has(prefix + ".gate_up_proj"))  // fused layout of transformers 5 in memory
    return fused_experts(prefix + ".gate_up_proj", prefix + ".down_proj", num_experts, hidden, intermediate);
  // Filled expert by expert: stacking every expert's copy would hold the layer twice on the device
  // at once (DeepSeek-V3 in bf16: 2 × 22.5 GB a layer, which ran one H100 out of memory).
  layers::ExpertWeights out;
  bool complete = true;
  for (int e = 0; e < num_experts; ++e) {  // every expert asked for, so that all missing names are listed
    std::string p = fmt::format("{}.{}.", prefix, e);
    at::Tensor gate = get(p + gate_name + ".weight", {intermediate, hidden});  // (I, H)
    at::Tensor up = get(p + up_name + ".weight", {intermediate, hidden});      // (I, H)
    at::Tensor down = get(p + down_name + ".weight", {hidden, intermediate});  // (H, I)
    complete = complete && gate.defined() && up.defined() && down.defined();
    if (!complete) continue;
    if (!out.gate.defined()) {
      // gate and up are the halves of one (E, 2I, H) block: one product per expert (layers::moe_experts).
      out.gate_up = at::empty({num_experts, 2 * intermediate, hidden}, gate.options());  // (E, 2I, H)
      out.gate = out.gate_up.narrow(1, 0, intermediate);                                 // (E, I, H) view
      out.up = out.gate_up.narrow(1, intermediate, intermediate);                        // (E, I, H) view
      out.down = at::empty({num_experts, hidden, intermediate}, down.options());         // (E, H, I)
    }
    out.gate[e].copy_(gate);
    out.up[e].copy_(up);
    out.down[e].copy_(down);
  }
  if (!complete) return {};
  return out;
}

void WeightLoader::ignore_under(const std::string& prefix) {
  for (const auto& name : checkpoint_.names())
    if (name.starts_with(prefix)) used_.insert(name);
}

void WeightLoader::add_format_problem(const std::string& tensor, std::string reason) {
  format_problems_.push_back({tensor, std::move(reason)});
}

// One entry per reason, in the order first met: "a.weight is F8_E4M3 but ..." for one tensor, "64
// tensors are F8_E4M3 but ...: a.weight, b.weight, ..." for many (a whole checkpoint stored in a
// format config.json does not declare is one problem, not 64 copies of it on the line).
std::vector<std::string> WeightLoader::grouped_format_problems() const {
  std::vector<std::string> reasons;
  std::map<std::string, std::vector<std::string>> tensors_of;
  for (const auto& [tensor, reason] : format_problems_) {
    auto& tensors = tensors_of[reason];
    if (tensors.empty()) reasons.push_back(reason);
    tensors.push_back(tensor);
  }
  std::vector<std::string> out;
  for (const std::string& reason : reasons) {
    const auto& tensors = tensors_of[reason];
    if (tensors.size() == 1) {
      out.push_back(tensors.front() + " " + reason);
      continue;
    }
    // Every reason starts with "is" or "has", said of one tensor.
    const std::string plural = reason.starts_with("is ") ? "are " + reason.substr(3)
                               : reason.starts_with("has ") ? "have " + reason.substr(4)
                                                            : reason;
    out.push_back(fmt::format("{} tensors {} ({})", tensors.size(), plural, some(tensors)));
  }
  return out;
}

void WeightLoader::finish() const {
  std::vector<std::string> unexpected;
  for (const auto& name : checkpoint_.names())
    if (!used_.count(name)) unexpected.push_back(name);
  if (missing_.empty() && wrong_shape_.empty() && unexpected.empty() && format_problems_.empty()) return;
  std::vector<std::string> parts;
  if (!missing_.empty()) parts.push_back(fmt::format("{} missing tensors: {}", missing_.size(), some(missing_)));
  if (!wrong_shape_.empty()) parts.push_back(fmt::format("{} with the wrong shape: {}", wrong_shape_.size(), some(wrong_shape_)));
  if (!format_problems_.empty())
    parts.push_back(fmt::format("quantized tensors not as quantization_config says: {}", some(grouped_format_problems())));
  if (!unexpected.empty()) parts.push_back(fmt::format("{} unexpected tensors: {}", unexpected.size(), some(unexpected)));
  throw InputError(located(checkpoint_.dir(), fmt::format("checkpoint does not match config.json: {}",
                                                          fmt::join(parts, "; "))));
}

}  // namespace moesim::model
