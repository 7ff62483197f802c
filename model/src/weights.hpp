#pragma once
// Turns checkpoint tensors into ATen tensors on the chosen device and dtype, keeping account of
// what was asked for: finish() reports every missing, wrong-shaped and unexpected tensor at once.
#include <ATen/ATen.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "layers.hpp"
#include "moesim/model/safetensors.hpp"

namespace moesim::model {

// --mxfp4: what becomes of MXFP4 experts (parsed in model.cpp). kKeep leaves them quantized in
// memory, dequantized per expert in the forward pass (ExpertMatrices); checkpoints without MXFP4
// tensors load the same either way.
enum class Mxfp4Mode { kDequantize, kKeep };

class WeightLoader {
 public:
  // Quantized tensors (config.json quantization_config) are dequantized on load: an FP8 "<x>.weight"
  // with its "<x>.weight_scale_inv", or an MXFP4 "<x>" stored as "<x>_blocks" + "<x>_scales" in the
  // transposed (out, in) layout, are returned exactly as the plain tensor would be. Integer tensors
  // are never weights here: refused, like quantized ones config.json does not declare.
  // With Mxfp4Mode::kKeep, expert_matrices() returns MXFP4 stacks as stored instead.
  WeightLoader(const Checkpoint& checkpoint, at::Device device, at::ScalarType dtype, Quantization quantization = {},
               Mxfp4Mode mxfp4 = Mxfp4Mode::kDequantize);

  // A required tensor of exactly this shape; on failure records the problem and returns an
  // undefined tensor (the caller carries on so that all problems are reported together).
  at::Tensor get(const std::string& name, const std::vector<int64_t>& shape);
  // Same, always in float32 whatever the model dtype (tensors transformers keeps in float32).
  at::Tensor get_float32(const std::string& name, const std::vector<int64_t>& shape);
  // Same, but absence is fine (biases): returns an undefined tensor without complaint.
  at::Tensor optional(const std::string& name, const std::vector<int64_t>& shape);
  bool has(const std::string& name) const { return checkpoint_.find(name) != nullptr; }
  // Where the next tensors go (layers of a model split over several devices).
  void set_device(at::Device device) { device_ = device; }

  // Routed experts under `prefix` (e.g. "model.layers.3.mlp.experts"), either one tensor per expert
  // ("<prefix>.<e>.<gate>.weight", hub layout) or fused ("<prefix>.gate_up_proj", "<prefix>.down_proj").
  layers::ExpertWeights experts(const std::string& prefix, int num_experts, int hidden, int intermediate,
                                const char* gate_name, const char* up_name, const char* down_name);
  // Routed experts as two stacked maps: gate_up (E, 2I, H), gate rows first, then up rows, and down (E, H, I).
  layers::ExpertWeights fused_experts(const std::string& gate_up_name, const std::string& down_name, int num_experts,
                                      int hidden, int intermediate);
  // A stack of expert matrices (E, in, out) as get() returns it, or, when the checkpoint stores it as
  // MXFP4 and the loader keeps MXFP4, its blocks and scales moved to the device as they are (checked
  // exactly as for dequantization, their mapped pages dropped once copied).
  layers::ExpertMatrices expert_matrices(const std::string& name, const std::vector<int64_t>& shape);
  // "<prefix>.{gate,up,down}_proj.weight", and their .bias when `bias` (ERNIE 4.5's use_bias).
  layers::MlpWeights mlp(const std::string& prefix, int hidden, int intermediate, bool bias = false);

  // Tensors the checkpoint holds but nobody asked for, and those we do not need at all.
  void ignore(const std::string& name) { used_.insert(name); }
  // Every tensor whose name starts with `prefix`: parts of a checkpoint no forward pass here runs
  // (Llama 4's vision tower).
  void ignore_under(const std::string& prefix);
  // Throws InputError listing the problems (missing, wrong shape, quantized not as config.json's
  // quantization_config says, unexpected), if any, in one line.
  void finish() const;

 private:
  at::Tensor fetch(const std::string& name, const std::vector<int64_t>& shape, bool required, at::ScalarType dtype);
  at::Tensor convert(const TensorView& view, at::ScalarType dtype) const;
  at::Tensor fp8(const std::string& name, const TensorView& view, at::ScalarType dtype);
  at::Tensor mxfp4(const std::string& name, const std::vector<int64_t>& shape, at::ScalarType dtype);
  // The blocks and scales of an MXFP4 `name` of plain shape `shape`, checked; {null, null} after
  // recording the problem.
  std::pair<const TensorView*, const TensorView*> mxfp4_views(const std::string& name, const std::vector<int64_t>& shape);
  at::Tensor on_device(const TensorView& view) const;
  const Checkpoint& checkpoint_;
  Quantization quantization_;
  Mxfp4Mode mxfp4_mode_;
  at::Device device_;
  at::ScalarType dtype_;
  std::set<std::string> used_;
  // A tensor stored in a format config.json does not declare: (tensor, what is wrong, said of it).
  void add_format_problem(const std::string& tensor, std::string reason);
  std::vector<std::string> grouped_format_problems() const;
  std::vector<std::string> missing_, wrong_shape_;
  std::vector<std::pair<std::string, std::string>> format_problems_;
};

// A view's bytes as a CPU tensor of its own dtype, without copying (valid while the file is mapped).
at::Tensor view_as_tensor(const TensorView& view);

}  // namespace moesim::model
