// config.json's quantization_config: which quantized weight format a checkpoint ships, for the
// loader to dequantize (dequantize.cpp). Torch-free, like the rest of config parsing.
//   {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128], "activation_scheme": "dynamic"}
//       DeepSeek-V3/R1, Kimi K2, Qwen3 FP8 (transformers' FineGrainedFP8Config)
//   {"quant_method": "mxfp4", "modules_to_not_convert": [...]}    gpt-oss (transformers' Mxfp4Config)
// The activation scheme concerns FP8 kernels that quantize activations too; moesim dequantizes the
// weights once and runs in the model dtype, as transformers does with dequantize=True.
#include <fmt/format.h>

#include "config_fields.hpp"

namespace moesim::model {

void parse_quantization(const ConfigFields& f, ModelConfig& c) {
  const json& j = f.raw();
  if (!j.contains("quantization_config") || j["quantization_config"].is_null()) return;
  if (!j["quantization_config"].is_object()) f.fail("field 'quantization_config' must be an object");
  const ConfigFields q = f.nested(j["quantization_config"]);
  const std::string method = q.need<std::string>("quant_method");
  Quantization& out = c.quantization;
  if (method == "fp8") {
    const std::string format = q.get<std::string>("fmt", "e4m3");
    if (format != "e4m3") f.fail(fmt::format("quantization_config.fmt '{}' is not supported (only e4m3)", format));
    const auto block = q.need<std::vector<int>>("weight_block_size");
    if (block.size() != 2 || block[0] <= 0 || block[1] <= 0 || block[0] > ConfigFields::kMaxSize ||
        block[1] > ConfigFields::kMaxSize)
      f.fail("quantization_config.weight_block_size must be two positive sizes, e.g. [128, 128]");
    out = {WeightFormat::kFp8Blocks, block[0], block[1]};
  } else if (method == "mxfp4") {
    out = {WeightFormat::kMxfp4, 0, 0};
  } else {
    f.fail(fmt::format("quantization_config.quant_method '{}' is not supported (supported: fp8, mxfp4)", method));
  }
}

}  // namespace moesim::model
