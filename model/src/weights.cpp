#include "weights.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

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
  }
  return at::kFloat;
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

WeightLoader::WeightLoader(const Checkpoint& checkpoint, at::Device device, at::ScalarType dtype)
    : checkpoint_(checkpoint), device_(device), dtype_(dtype) {}

at::Tensor WeightLoader::convert(const TensorView& view, at::ScalarType dtype) const {
  at::Tensor t = view_as_tensor(view);
  // The copy detaches the tensor from the mapped file; float32 → bf16 etc. happens in the same pass.
  return t.to(device_, t.is_floating_point() ? dtype : t.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
}

at::Tensor WeightLoader::fetch(const std::string& name, const std::vector<int64_t>& shape, bool required,
                               at::ScalarType dtype) {
  const TensorView* view = checkpoint_.find(name);
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

layers::MlpWeights WeightLoader::mlp(const std::string& prefix, int hidden, int intermediate) {
  return {get(prefix + ".gate_proj.weight", {intermediate, hidden}), get(prefix + ".up_proj.weight", {intermediate, hidden}),
          get(prefix + ".down_proj.weight", {hidden, intermediate})};
}

layers::ExpertWeights WeightLoader::experts(const std::string& prefix, int num_experts, int hidden, int intermediate,
                                            const char* gate_name, const char* up_name, const char* down_name) {
  if (has(prefix + ".gate_up_proj")) {  // fused layout of transformers 5 in memory: gate rows, then up rows
    at::Tensor gate_up = get(prefix + ".gate_up_proj", {num_experts, 2 * intermediate, hidden});
    at::Tensor down = get(prefix + ".down_proj", {num_experts, hidden, intermediate});
    if (!gate_up.defined() || !down.defined()) return {};
    return {gate_up.narrow(1, 0, intermediate).contiguous(), gate_up.narrow(1, intermediate, intermediate).contiguous(),
            down};
  }
  std::vector<at::Tensor> gate, up, down;
  bool complete = true;
  for (int e = 0; e < num_experts; ++e) {
    std::string p = fmt::format("{}.{}.", prefix, e);
    gate.push_back(get(p + gate_name + ".weight", {intermediate, hidden}));
    up.push_back(get(p + up_name + ".weight", {intermediate, hidden}));
    down.push_back(get(p + down_name + ".weight", {hidden, intermediate}));
    complete = complete && gate.back().defined() && up.back().defined() && down.back().defined();
  }
  if (!complete) return {};
  return {at::stack(gate), at::stack(up), at::stack(down)};  // (E, I, H), (E, I, H), (E, H, I)
}

void WeightLoader::ignore_under(const std::string& prefix) {
  for (const auto& name : checkpoint_.names())
    if (name.starts_with(prefix)) used_.insert(name);
}

void WeightLoader::finish() const {
  std::vector<std::string> unexpected;
  for (const auto& name : checkpoint_.names())
    if (!used_.count(name)) unexpected.push_back(name);
  if (missing_.empty() && wrong_shape_.empty() && unexpected.empty()) return;
  std::vector<std::string> parts;
  if (!missing_.empty()) parts.push_back(fmt::format("{} missing tensors: {}", missing_.size(), some(missing_)));
  if (!wrong_shape_.empty()) parts.push_back(fmt::format("{} with the wrong shape: {}", wrong_shape_.size(), some(wrong_shape_)));
  if (!unexpected.empty()) parts.push_back(fmt::format("{} unexpected tensors: {}", unexpected.size(), some(unexpected)));
  throw InputError(located(checkpoint_.dir(), fmt::format("checkpoint does not match config.json: {}",
                                                          fmt::join(parts, "; "))));
}

}  // namespace moesim::model
