// The weight loader's refusals of quantized tensors that are not what config.json's
// quantization_config says: each case is the smallest checkpoint showing it (a real safetensors file
// and a config.json parsed by the real quantization_config parser), and the one-line InputError
// must name the tensor and the problem.
#include "doctest_torch.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <fmt/ranges.h>

#include "config_fields.hpp"
#include "moesim/common/error.hpp"
#include "moesim/testing/scratch.hpp"
#include "weights.hpp"

namespace fs = std::filesystem;
using namespace moesim::model;

namespace {

using Shape = std::vector<std::int64_t>;

// A tensor as the checkpoint stores it.
struct Stored {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<std::byte> bytes;
};

std::int64_t numel(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
}

template <class T>
Stored stored(const std::string& name, DType dtype, const Shape& shape, const std::vector<T>& values) {
  REQUIRE(static_cast<std::int64_t>(values.size()) == numel(shape));
  auto b = std::as_bytes(std::span<const T>(values));
  return {name, dtype, shape, {b.begin(), b.end()}};
}

template <class T>
Stored filled(const std::string& name, DType dtype, const Shape& shape, T value) {
  return stored(name, dtype, shape, std::vector<T>(static_cast<std::size_t>(numel(shape)), value));
}

constexpr std::uint8_t kE4m3One = 0x38;      // float8_e4m3fn 1.0
constexpr std::uint8_t kE2m1OnePair = 0x22;  // two e2m1 1.0 values, one per nibble
constexpr std::uint8_t kE8m0One = 127;       // e8m0 2^0

Stored fp8(const std::string& name, const Shape& shape) { return filled(name, DType::kF8E4M3, shape, kE4m3One); }
Stored f32(const std::string& name, const Shape& shape, float value = 1.0f) {
  return filled(name, DType::kF32, shape, value);
}
Stored u8(const std::string& name, const Shape& shape, std::uint8_t value) { return filled(name, DType::kU8, shape, value); }

// quantization_config objects as the hub writes them; the FP8 one with small blocks so that a 5x7
// weight has partial blocks at both edges.
const std::string kFp8Blocks2x4 = R"({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [2, 4]})";
const std::string kMxfp4 = R"({"quant_method": "mxfp4"})";
const std::string kNoQuantization;

struct Loaded {
  std::vector<at::Tensor> tensors;  // one per wanted name, undefined where refused
  std::string error;                // finish()'s InputError message, "" when all matched
};

// Writes `tensors` and a config.json holding `quantization_config` (none when empty), then asks a
// WeightLoader for each `wanted` tensor of its plain shape, as a model's loader would.
Loaded load(const std::vector<Stored>& tensors, const std::string& quantization_config,
            const std::vector<std::pair<std::string, Shape>>& wanted) {
  const fs::path dir = moesim::testing::scratch_subdir("weights");
  std::vector<TensorToWrite> to_write;
  for (const Stored& t : tensors) to_write.push_back({t.name, t.dtype, t.shape, t.bytes});
  write_safetensors(dir / "model.safetensors", to_write);
  const fs::path config_file = dir / "config.json";
  std::ofstream(config_file) << (quantization_config.empty() ? "{}" : "{\"quantization_config\": " + quantization_config + "}");
  const json config = json::parse(std::ifstream(config_file));
  ModelConfig c;
  parse_quantization(ConfigFields(config, config_file), c);

  Checkpoint checkpoint(dir);
  WeightLoader loader(checkpoint, at::kCPU, at::kFloat, c.quantization);
  Loaded out;
  for (const auto& [name, shape] : wanted) out.tensors.push_back(loader.get(name, shape));
  try {
    loader.finish();
  } catch (const moesim::InputError& e) {
    out.error = e.what();
  }
  return out;
}

// The refusal of one tensor: one line, the quantized-format category, and `problem` verbatim.
void check_format_problem(const std::string& error, const std::string& problem) {
  INFO(error);
  CHECK(error.find("checkpoint does not match config.json: quantized tensors not as quantization_config says: " +
                   problem) != std::string::npos);
  CHECK(error.find("unexpected") == std::string::npos);  // its companions are part of the same problem
  CHECK(error.find('\n') == std::string::npos);
}

const std::string kWeight = "layers.0.mlp.down_proj.weight";
const std::string kScale = kWeight + "_scale_inv";
const Shape kWeightShape = {5, 7};  // 2x4 blocks: 3 block rows (the last of 1 row), 2 block columns (the last of 3)
const Shape kScaleShape = {3, 2};

}  // namespace

TEST_CASE("loader: an F8_E4M3 tensor needs quant_method fp8 in config.json") {
  const std::vector<Stored> checkpoint = {fp8(kWeight, kWeightShape), f32(kScale, kScaleShape)};
  check_format_problem(load(checkpoint, kNoQuantization, {{kWeight, kWeightShape}}).error,
                       kWeight + " is F8_E4M3 but config.json has no quantization_config");
  check_format_problem(load(checkpoint, kMxfp4, {{kWeight, kWeightShape}}).error,
                       kWeight + " is F8_E4M3 but config.json has quantization_config quant_method \"mxfp4\"");
}

TEST_CASE("loader: an FP8 weight's scale_inv holds one scale per block, partial edge blocks included") {
  // Scales 1..6 row-major over the 3x2 blocks: rows 0-1 / 2-3 / 4, columns 0-3 / 4-6.
  const std::vector<float> scales = {1, 2, 3, 4, 5, 6};
  Loaded ok = load({fp8(kWeight, kWeightShape), stored(kScale, DType::kF32, kScaleShape, scales)}, kFp8Blocks2x4,
                   {{kWeight, kWeightShape}});
  REQUIRE(ok.error.empty());
  const at::Tensor w = ok.tensors[0];
  CHECK(w.sizes() == at::IntArrayRef(kWeightShape));
  CHECK(w[0][0].item<float>() == 1.0f);
  CHECK(w[1][3].item<float>() == 1.0f);
  CHECK(w[1][4].item<float>() == 2.0f);
  CHECK(w[3][6].item<float>() == 4.0f);
  CHECK(w[4][0].item<float>() == 5.0f);  // the bottom edge block: one row
  CHECK(w[4][6].item<float>() == 6.0f);  // the corner block: one row, three columns

  // Rounding the edges down or up one block too many, transposed, flattened: each refused naming the scale.
  for (const Shape& wrong : {Shape{2, 1}, Shape{3, 1}, Shape{2, 2}, Shape{4, 2}, Shape{3, 3}, Shape{2, 3}, Shape{6}}) {
    const std::string shown = fmt::format("{}", fmt::join(wrong, ", "));
    INFO(shown);
    check_format_problem(load({fp8(kWeight, kWeightShape), f32(kScale, wrong)}, kFp8Blocks2x4, {{kWeight, kWeightShape}}).error,
                         kScale + " is [" + shown + "] F32, expected [3, 2] F32 or BF16 for 2x4 blocks of a [5, 7] weight");
  }
  // A scale of the right shape in a type that is not a float scale.
  check_format_problem(load({fp8(kWeight, kWeightShape), u8(kScale, kScaleShape, 1)}, kFp8Blocks2x4, {{kWeight, kWeightShape}}).error,
                       kScale + " is [3, 2] U8, expected [3, 2] F32 or BF16");
}

TEST_CASE("loader: an FP8 weight without its scale_inv, or not a matrix, is refused") {
  check_format_problem(load({fp8(kWeight, kWeightShape)}, kFp8Blocks2x4, {{kWeight, kWeightShape}}).error,
                       kWeight + " has no " + kScale);
  const std::string norm = "layers.0.input_layernorm.weight";
  check_format_problem(load({fp8(norm, {8}), f32(norm + "_scale_inv", {1})}, kFp8Blocks2x4, {{norm, {8}}}).error,
                       norm + " is F8_E4M3 but not a matrix");
}

namespace {
// gpt-oss's fused experts: plain (E, in, out), stored transposed (E, out, in / 32, 16) + (E, out, in / 32).
const std::string kExperts = "layers.0.mlp.experts.down_proj";
const std::string kBlocks = kExperts + "_blocks", kScales = kExperts + "_scales";
const Shape kExpertsShape = {2, 32, 8};
const Shape kBlocksShape = {2, 8, 1, 16}, kScalesShape = {2, 8, 1};

Stored blocks(const Shape& shape = kBlocksShape) { return u8(kBlocks, shape, kE2m1OnePair); }
Stored scales(const Shape& shape = kScalesShape) { return u8(kScales, shape, kE8m0One); }
}  // namespace

TEST_CASE("loader: MXFP4 weights need both _blocks and _scales, each of the shape the plain tensor implies") {
  Loaded ok = load({blocks(), scales()}, kMxfp4, {{kExperts, kExpertsShape}});
  REQUIRE(ok.error.empty());
  CHECK(ok.tensors[0].sizes() == at::IntArrayRef(kExpertsShape));
  CHECK(at::all(ok.tensors[0] == 1.0f).item<bool>());

  // Half a pair: the other half is what is missing, and the half present is not "unexpected".
  std::string e = load({blocks()}, kMxfp4, {{kExperts, kExpertsShape}}).error;
  CHECK(e.find("checkpoint does not match config.json: 1 missing tensors: " + kScales) != std::string::npos);
  CHECK(e.find("unexpected") == std::string::npos);
  e = load({scales()}, kMxfp4, {{kExperts, kExpertsShape}}).error;
  CHECK(e.find("checkpoint does not match config.json: 1 missing tensors: " + kBlocks) != std::string::npos);
  CHECK(e.find("unexpected") == std::string::npos);

  check_format_problem(load({blocks(), scales({2, 8, 2})}, kMxfp4, {{kExperts, kExpertsShape}}).error,
                       kScales + " is [2, 8, 2] U8, expected [2, 8, 1] U8");
  check_format_problem(load({blocks(), f32(kScales, kScalesShape)}, kMxfp4, {{kExperts, kExpertsShape}}).error,
                       kScales + " is [2, 8, 1] F32, expected [2, 8, 1] U8");
  // Not transposed: (E, in / 32, out, 16) instead of (E, out, in / 32, 16).
  check_format_problem(load({blocks({2, 1, 8, 16}), scales()}, kMxfp4, {{kExperts, kExpertsShape}}).error,
                       kBlocks + " is [2, 1, 8, 16] U8, expected [2, 8, 1, 16] U8");
  // MXFP4 tensors while config.json says otherwise.
  check_format_problem(load({blocks(), scales()}, kNoQuantization, {{kExperts, kExpertsShape}}).error,
                       kExperts + " is stored as MXFP4 (" + kBlocks + ", " + kScales +
                           ") but config.json has no quantization_config");
  check_format_problem(load({blocks(), scales()}, kFp8Blocks2x4, {{kExperts, kExpertsShape}}).error,
                       kExperts + " is stored as MXFP4 (" + kBlocks + ", " + kScales +
                           ") but config.json has quantization_config quant_method \"fp8\"");
}

TEST_CASE("loader: an MXFP4 weight whose input size is not whole 32-value blocks is refused before a byte is read") {
  // The blocks of a writer that padded the input (16 → one block) or cut it (48 → one block): the
  // plain shape decides, and neither has an MXFP4 layout.
  check_format_problem(load({blocks(), scales()}, kMxfp4, {{kExperts, {2, 16, 8}}}).error,
                       kExperts + " is stored as MXFP4 but its input size 16 (of [2, 16, 8]) is not a multiple of the "
                                  "32-value block");
  check_format_problem(load({blocks(), scales()}, kMxfp4, {{kExperts, {2, 48, 8}}}).error,
                       kExperts + " is stored as MXFP4 but its input size 48 (of [2, 48, 8]) is not a multiple of the "
                                  "32-value block");
  check_format_problem(load({blocks({32, 1, 16}), scales({32, 1})}, kMxfp4, {{kExperts, {32}}}).error,
                       kExperts + " is stored as MXFP4 but is [32], not a matrix");
}

TEST_CASE("loader: integer tensors where float weights belong are refused, not loaded as integers") {
  // A GPTQ-style packed weight left after its quantization_config was removed.
  const std::string q = "layers.0.self_attn.q_proj.weight";
  for (DType dtype : {DType::kI32, DType::kU8, DType::kBool}) {
    CAPTURE(dtype_name(dtype));
    Stored t = u8(q, {4, 4}, 0);
    t.dtype = dtype;
    t.bytes.resize(t.bytes.size() * dtype_bytes(dtype));
    check_format_problem(load({t}, kNoQuantization, {{q, {4, 4}}}).error,
                         q + " is " + std::string(dtype_name(dtype)) + ", not a floating-point type");
  }
}
