// Loading checkpoints: sharded = single file, bf16 close to float32, bad checkpoints and configs
// refused with one line that lists what is wrong, and capture's trace equal to the parity reference.
#include "doctest_torch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <span>

#include "moesim/common/error.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/model.hpp"
#include "moesim/model/random_checkpoint.hpp"
#include "moesim/model/safetensors.hpp"
#include "moesim/model/tokenizer.hpp"
#include "moesim/traces/trace_reader.hpp"
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;
using namespace moesim::model;

namespace {

fs::path fixture(const std::string& arch) { return fs::path(MOESIM_SOURCE_DIR) / "tests" / "fixtures" / arch; }

fs::path scratch(const std::string& name) { return moesim::testing::scratch_subdir(name); }

// A copy of a fixture's config with its weights rewritten by `edit` (which may drop, add or
// reshape tensors), optionally split over shards through an index file.
fs::path rewrite_fixture(const std::string& arch, const std::string& name,
                         const std::function<void(std::vector<TensorToWrite>&)>& edit, int shards = 1) {
  fs::path dir = scratch(name);
  fs::copy_file(fixture(arch) / "config.json", dir / "config.json");
  SafetensorsFile source(fixture(arch) / "model.safetensors");
  std::vector<TensorToWrite> tensors;
  for (const auto& [n, v] : source.tensors()) tensors.push_back({n, v.dtype, v.shape, v.bytes});
  edit(tensors);
  if (shards == 1) {
    write_safetensors(dir / "model.safetensors", tensors);
    return dir;
  }
  std::string index = R"({"metadata": {}, "weight_map": {)";
  for (int s = 0; s < shards; ++s) {
    std::vector<TensorToWrite> part;
    std::string file = "model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) + ".safetensors";
    for (std::size_t i = s; i < tensors.size(); i += shards) {
      part.push_back(tensors[i]);
      index += (index.back() == '{' ? "" : ", ") + ("\"" + tensors[i].name + "\": \"" + file + "\"");
    }
    write_safetensors(dir / file, part);
  }
  std::ofstream(dir / "model.safetensors.index.json") << index << "}}";
  return dir;
}

using ConfigEdits = std::vector<std::pair<std::string, std::string>>;

// Replaces, in dir's config.json, each edit's first text by its second (which must be there).
void edit_config(const fs::path& dir, const ConfigEdits& edits) {
  std::ifstream in(dir / "config.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  in.close();
  for (const auto& [from, to] : edits) {
    auto pos = text.find(from);
    REQUIRE_MESSAGE(pos != std::string::npos, from);
    text.replace(pos, from.size(), to);
  }
  std::ofstream(dir / "config.json") << text;
}

// A copy of fixture(arch), config.json and weights, in scratch directory `name`, its config.json edited.
fs::path edited_fixture(const std::string& arch, const std::string& name, const ConfigEdits& edits) {
  fs::path dir = scratch(name);
  fs::copy_file(fixture(arch) / "config.json", dir / "config.json");
  fs::copy_file(fixture(arch) / "model.safetensors", dir / "model.safetensors");
  edit_config(dir, edits);
  return dir;
}

std::string load_error(const fs::path& dir, const LoadOptions& options = {}) {
  try {
    MoeModel::load(dir, options);
  } catch (const moesim::InputError& e) {
    return e.what();
  }
  return "";
}

const std::vector<std::vector<std::int32_t>> kSequences = {{5, 17, 42, 3, 88, 61, 29, 74, 8, 50, 33, 90},
                                                           {11, 64, 2, 39, 77, 19, 56, 23}};

}  // namespace

TEST_CASE("loading: a checkpoint split over 3 shards gives bit-identical logits") {
  auto single = MoeModel::load(fixture("qwen2_moe"))->forward(kSequences);
  fs::path dir = rewrite_fixture("qwen2_moe", "sharded", [](auto&) {}, 3);
  auto sharded = MoeModel::load(dir)->forward(kSequences);
  CHECK(sharded.logits == single.logits);
}

TEST_CASE("loading: bfloat16 weights stay close to float32 and pick nearly the same experts") {
  struct Keep : RoutingHook {
    std::vector<RoutingRecord> r;
    void on_routing(const RoutingRecord& x) override { r.push_back(x); }
  } f32_routing, bf16_routing;
  auto f32 = MoeModel::load(fixture("mixtral"))->forward(kSequences, &f32_routing);
  auto bf16 = MoeModel::load(fixture("mixtral"), {"cpu", "bfloat16"})->forward(kSequences, &bf16_routing);
  double max_err = 0, max_ref = 0;
  for (std::size_t i = 0; i < f32.logits.size(); ++i) {
    if (!f32.valid[i / f32.vocab]) continue;
    max_err = std::max(max_err, std::abs(double(f32.logits[i]) - bf16.logits[i]));
    max_ref = std::max(max_ref, std::abs(double(f32.logits[i])));
  }
  MESSAGE("bf16 vs f32: max |logit diff| = " << max_err << " (max |logit| = " << max_ref << ")");
  CHECK(max_err > 0);                // really ran in bfloat16
  CHECK(max_err < 0.05 * max_ref);   // bf16 has 8 mantissa bits: ~0.4 % per op, a few % after 3 layers
  int same = 0, total = 0;
  for (std::size_t l = 0; l < f32_routing.r.size(); ++l)
    for (std::size_t i = 0; i < f32_routing.r[l].expert_ids.size(); ++i, ++total)
      same += f32_routing.r[l].expert_ids[i] == bf16_routing.r[l].expert_ids[i];
  CHECK(same >= 0.9 * total);
}

TEST_CASE("loading: missing, unexpected and wrong-shaped tensors are listed in one error") {
  fs::path dir = rewrite_fixture("mixtral", "broken", [](std::vector<TensorToWrite>& t) {
    std::erase_if(t, [](const TensorToWrite& x) { return x.name == "model.layers.1.self_attn.k_proj.weight"; });
    for (auto& x : t)
      if (x.name == "model.norm.weight") x.shape = {2, 16};
    static const float extra[2] = {1, 2};
    t.push_back({"model.layers.7.mystery.weight", DType::kF32, {2}, std::as_bytes(std::span<const float>(extra))});
  });
  std::string e = load_error(dir);
  CHECK(e.find("broken: checkpoint does not match config.json") != std::string::npos);
  CHECK(e.find("1 missing tensors: model.layers.1.self_attn.k_proj.weight") != std::string::npos);
  CHECK(e.find("model.norm.weight is [2, 16], expected [32]") != std::string::npos);
  CHECK(e.find("1 unexpected tensors: model.layers.7.mystery.weight") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("loading: bad configs, devices and dtypes are refused naming the field") {
  auto config_error = [](const std::string& edit_from, const std::string& edit_to) {
    return load_error(edited_fixture("qwen3_moe", "config", {{edit_from, edit_to}}));
  };
  CHECK(config_error("\"model_type\": \"qwen3_moe\"", "\"model_type\": \"llama\"")
            .find("model_type 'llama' is not supported (supported: deepseek_v2, deepseek_v3, ernie4_5_moe, glm4_moe, gpt_oss, granitemoe, llama4, llama4_text, mixtral, olmoe, phimoe, qwen2_moe, qwen3_moe)") !=
        std::string::npos);
  CHECK(config_error("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 10000000000")
            .find("field 'num_hidden_layers' = 10000000000 is outside 1..4096") != std::string::npos);
  CHECK(config_error("\"hidden_size\": 32,", "").find("config.json: missing field 'hidden_size'") != std::string::npos);
  CHECK(config_error("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 9")
            .find("num_experts_per_tok = 9 exceeds num_local_experts = 8") != std::string::npos);
  // Scaled RoPE: types moesim does not implement are refused by name, a known one without its fields too.
  CHECK(config_error("\"rope_type\": \"default\"", "\"rope_type\": \"longrope\", \"original_max_position_embeddings\": 16")
            .find("config.json: missing field 'short_factor'") != std::string::npos);
  CHECK(config_error("\"rope_type\": \"default\"", "\"rope_type\": \"longrope\", \"original_max_position_embeddings\": 16, "
                     "\"short_factor\": [1, 1], \"long_factor\": [1, 1, 1, 1]")
            .find("config.json: longrope 'short_factor' has 2 entries, expected head_dim / 2 = 4") != std::string::npos);
  CHECK(config_error("\"use_sliding_window\": false", "\"use_sliding_window\": true")
            .find("config.json: missing field 'sliding_window'") != std::string::npos);
  CHECK(config_error("\"rope_type\": \"default\"", "\"rope_type\": \"dynamic\"").find("RoPE type 'dynamic' is not supported") !=
        std::string::npos);
  CHECK(config_error("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"").find("config.json: missing field 'factor'") !=
        std::string::npos);
  CHECK(config_error("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\", \"factor\": 4")
            .find("config.json: missing field 'original_max_position_embeddings'") != std::string::npos);
  CHECK(config_error("\"vocab_size\": 96", "\"vocab_size\": \"many\"").find("field 'vocab_size' has the wrong type") !=
        std::string::npos);
  // Untrusted numbers in integer fields: never cast (1e30 is UB), wrapped (2^40) or truncated (3.5).
  auto config_says = [&](const std::string& from, const std::string& to, const std::string& message) {
    std::string e = config_error(from, to);
    INFO(e);
    CHECK(e.find("config.json: " + message) != std::string::npos);
  };
  config_says("\"head_dim\": 8", "\"head_dim\": 1e30", "field 'head_dim' = 1e+30 is outside -2147483648..2147483647");
  config_says("\"head_dim\": 8", "\"head_dim\": 1099511627784", "field 'head_dim' = 1099511627784 is outside");
  config_says("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 3.5", "field 'num_hidden_layers' = 3.5 is not a whole number");
  config_says("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 1e30", "field 'num_hidden_layers' = 1e+30 is outside 1..4096");
  config_says("\"num_hidden_layers\": 3", "\"num_hidden_layers\": -1", "field 'num_hidden_layers' = -1 is outside 1..4096");
  config_says("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 0", "field 'num_hidden_layers' = 0 is outside 1..4096");
  config_says("\"intermediate_size\": 48", "\"intermediate_size\": -1", "field 'intermediate_size' = -1 is outside 0..16777216");
  config_says("\"decoder_sparse_step\": 1", "\"decoder_sparse_step\": 4294967297",
              "field 'decoder_sparse_step' = 4294967297 is outside -2147483648..2147483647");
  config_says("\"num_key_value_heads\": 2", "\"num_key_value_heads\": -1", "num_key_value_heads = -1 must divide");
  // Found by fuzzing (tests/fuzz/regressions/model_config/): an odd rotary width loaded, then failed in the forward pass.
  config_says("\"head_dim\": 8", "\"head_dim\": 7", "field 'head_dim' = 7 must be even (RoPE rotates pairs of dimensions)");
  config_says("[\n    1\n  ]", "[1e30]", "field 'mlp_only_layers'[0] = 1e+30 is outside -2147483648..2147483647");
  config_says("\"vocab_size\": 96", "\"vocab_size\": 1e400", "not valid JSON: [json.exception.out_of_range.406] number overflow");
  CHECK(load_error(fixture("mixtral"), {"gpu", "float32"}).find("--device gpu") != std::string::npos);
  CHECK(load_error(fixture("mixtral"), {"cpu", "int8"}).find("--dtype int8") != std::string::npos);
  CHECK(load_error(fixture("mixtral"), {"cpu", "float16"}).find("float16 needs a CUDA device") != std::string::npos);
  CHECK(load_error(fixture("nope")).find("is not a model directory") != std::string::npos);
}

TEST_CASE("capture: the trace's expert ids equal transformers' for the same inputs") {
  // The fixture batch is a 12-token and an 8-token sequence: a corpus of both, cut at seq_len 12
  // and run 2 sequences per step, reproduces it exactly.
  CaptureOptions o;
  o.model_dir = fixture("deepseek_v3");
  for (const auto& s : kSequences) o.token_ids.insert(o.token_ids.end(), s.begin(), s.end());
  o.seq_len = 12;
  o.batch = 2;
  o.router_probs = true;
  o.out = scratch("capture") / "trace.h5";
  auto model = MoeModel::load(o.model_dir);
  CaptureSummary summary = capture_trace(*model, o);
  CHECK(summary.tokens == 20);
  CHECK(summary.steps == 1);

  moesim::traces::TraceReader trace(o.out);
  CHECK(trace.header().model_layers == std::vector<int>{1, 2});
  CHECK(trace.header().has_router_probs);
  SafetensorsFile ref(fixture("deepseek_v3") / "reference.safetensors");
  const TensorView* mask_view = ref.find("attention_mask");
  REQUIRE(mask_view);
  std::vector<std::int64_t> mask(mask_view->bytes.size() / 8);
  std::memcpy(mask.data(), mask_view->bytes.data(), mask_view->bytes.size());
  for (int layer = 0; layer < trace.header().num_layers; ++layer) {
    const TensorView* ids_view = ref.find("topk_ids." + std::to_string(trace.header().model_layers[layer]));
    REQUIRE(ids_view);
    std::vector<std::int64_t> ref_ids(ids_view->bytes.size() / 8);
    std::memcpy(ref_ids.data(), ids_view->bytes.data(), ids_view->bytes.size());
    auto block = trace.read_layer(layer, 0, 20, {.gates = true, .router_probs = true});
    const int k = block.top_k;
    std::uint64_t t = 0;
    for (std::size_t p = 0; p < mask.size(); ++p) {
      if (!mask[p]) continue;
      std::set<std::int64_t> want(ref_ids.begin() + p * k, ref_ids.begin() + (p + 1) * k);
      std::set<std::int64_t> got(block.expert_ids.begin() + t * k, block.expert_ids.begin() + (t + 1) * k);
      CHECK(want == got);
      ++t;
    }
    CHECK(t == 20);
    CHECK(block.router_probs.size() == 20u * 8u);
  }
}

TEST_CASE("placement: a device list splits the layers into consecutive blocks; results do not change") {
  auto one = MoeModel::load(fixture("deepseek_v3"))->forward(kSequences);
  auto split = MoeModel::load(fixture("deepseek_v3"), {"cpu,cpu,cpu", "float32"})->forward(kSequences);
  CHECK(split.logits == one.logits);
  CHECK(load_error(fixture("mixtral"), {"cpu,cpu,cpu,cpu", "float32"}).find("more devices than the model's 3 layers") !=
        std::string::npos);
}

TEST_CASE("capture --dataset: a real tokenizer and text file give a trace of exactly the tokenized text") {
  const fs::path tokenizer_file = fs::path(MOESIM_SHARED_DATA) / "tokenizers" / "llama2_tokenizer.model";
  if (!fs::exists(tokenizer_file)) {
    MESSAGE("skipped: " << tokenizer_file << " not present");
    return;
  }
  fs::path dir = scratch("random32k");
  write_random_mixtral(dir, {.vocab_size = 32000, .hidden_size = 32, .intermediate_size = 16, .num_layers = 2,
                             .num_heads = 4, .num_kv_heads = 2, .num_experts = 4, .top_k = 2});
  fs::path text = dir / "text.txt";
  std::ofstream(text) << "Mixture-of-Experts layers route each token to k of E experts.\nÜber 100 000 tokens/s?\n";
  auto tokenizer = load_tokenizer(tokenizer_file);
  auto expected = encode_for_model(*tokenizer, read_text_file(text), true);

  CaptureOptions o;
  o.model_dir = dir;
  o.token_ids = dataset_token_ids("text:" + text.string(), MOESIM_SHARED_DATA, *tokenizer, 0);
  CHECK(o.token_ids == expected);
  CHECK(o.token_ids.front() == 1);  // Llama 2 BOS
  o.seq_len = 8;
  o.batch = 2;
  o.out = dir / "trace.h5";
  auto model = MoeModel::load(dir);
  CaptureSummary summary = capture_trace(*model, o);
  moesim::traces::TraceReader trace(o.out);
  CHECK(trace.header().num_tokens == expected.size());
  CHECK(summary.steps == (expected.size() + 15) / 16);
  auto tokens = trace.read_tokens(0, expected.size());
  CHECK(tokens.token_id == expected);
  CHECK(tokens.position[8] == 0);  // a new sequence every seq_len tokens
  CHECK(tokens.sequence_id[8] == 1);
  CHECK(dataset_token_ids("text:" + text.string(), MOESIM_SHARED_DATA, *tokenizer, 5).size() == 5);
  CHECK_THROWS_AS(dataset_token_ids("imagenet", MOESIM_SHARED_DATA, *tokenizer, 5), moesim::InputError);
}

TEST_CASE("loading: a hub-style rope_scaling {type: yarn} reads the same as transformers 5's rope_parameters") {
  // DeepSeek-V3's config.json on the hub: rope_theta at the top level, rope_scaling with 'type'.
  fs::path dir = scratch("rope_scaling");
  std::ifstream in(fixture("deepseek_v3_yarn") / "config.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const std::string from = text.substr(text.find("\"rope_parameters\""));
  const std::string params = from.substr(0, from.find('}') + 1);
  text.replace(text.find(params), params.size(),
               "\"rope_theta\": 100.0, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4, \"beta_fast\": 4, "
               "\"beta_slow\": 0.25, \"mscale\": 1.0, \"mscale_all_dim\": 0.5, \"original_max_position_embeddings\": 16}");
  std::ofstream(dir / "config.json") << text;
  fs::copy_file(fixture("deepseek_v3_yarn") / "model.safetensors", dir / "model.safetensors");

  ModelConfig c = load_config(dir);
  CHECK(c.rope_theta == 100.0);
  CHECK(c.rope_scaling.type == RopeType::kYarn);
  CHECK(c.rope_scaling.factor == 4.0);
  CHECK(c.rope_scaling.original_max_position_embeddings == 16);
  CHECK(c.rope_scaling.beta_fast == 4.0);
  CHECK(c.rope_scaling.beta_slow == 0.25);
  CHECK(c.rope_scaling.mscale_all_dim == 0.5);
  CHECK(c.rope_scaling.truncate);
  auto hub = MoeModel::load(dir)->forward(kSequences);
  auto v5 = MoeModel::load(fixture("deepseek_v3_yarn"))->forward(kSequences);
  CHECK(hub.logits == v5.logits);
  // The same weights without scaling give other logits: the scaling is really applied.
  auto plain_text = text;
  plain_text.replace(plain_text.find("\"type\": \"yarn\""), 14, "\"type\": \"default\"");
  std::ofstream(dir / "config.json") << plain_text;
  auto plain = MoeModel::load(dir)->forward(kSequences);
  CHECK(plain.logits != v5.logits);
}

// --- Refusals: what the config implies must be there, and NaN/Inf stop the run.

namespace {
// A copy of `arch` whose tensor `name` has its row `row` (or every value, row < 0) set to `value`.
fs::path poison_fixture(const std::string& arch, const std::string& dir_name, const std::string& name, int row, float value,
                        std::vector<float>& storage) {
  return rewrite_fixture(arch, dir_name, [&](std::vector<TensorToWrite>& t) {
    for (auto& x : t) {
      if (x.name != name) continue;
      REQUIRE(x.dtype == DType::kF32);
      storage.resize(x.bytes.size() / sizeof(float));
      std::memcpy(storage.data(), x.bytes.data(), x.bytes.size());
      const std::size_t width = static_cast<std::size_t>(x.shape.back());
      for (std::size_t i = 0; i < storage.size(); ++i)
        if (row < 0 || i / width == static_cast<std::size_t>(row)) storage[i] = value;
      x.bytes = std::as_bytes(std::span<const float>(storage));
    }
  });
}

std::string non_finite_error(const fs::path& dir, RoutingHook* hook = nullptr) {
  auto model = MoeModel::load(dir);
  try {
    model->forward(kSequences, hook);
  } catch (const NonFiniteError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("refusing: an attention bias the config declares must be in the checkpoint, and one it does not is unexpected") {
  // qwen2_moe declares q/k/v biases (qkv_bias): without q_proj's, the logits would move by ~1e-2 silently.
  fs::path dir = rewrite_fixture("qwen2_moe", "no_q_bias", [](std::vector<TensorToWrite>& t) {
    std::erase_if(t, [](const TensorToWrite& x) { return x.name == "model.layers.0.self_attn.q_proj.bias"; });
  });
  CHECK(load_error(dir).find("1 missing tensors: model.layers.0.self_attn.q_proj.bias") != std::string::npos);
  // Mixtral's attention has no biases: a checkpoint that carries one does not match the model transformers builds.
  static const float zeros[32] = {};
  fs::path extra = rewrite_fixture("mixtral", "extra_o_bias", [](std::vector<TensorToWrite>& t) {
    t.push_back({"model.layers.0.self_attn.o_proj.bias", DType::kF32, {32}, std::as_bytes(std::span<const float>(zeros))});
  });
  CHECK(load_error(extra).find("1 unexpected tensors: model.layers.0.self_attn.o_proj.bias") != std::string::npos);
}

TEST_CASE("refusing: NaN router scores stop the forward pass naming the MoE layer and the first bad position") {
  // Token 64 appears only in the second sequence: a NaN embedding row for it reaches the first MoE
  // layer's router there, at every column (NaN + the mask's finite lowest value is still NaN, in
  // transformers' eager attention too), while the first sequence stays finite.
  std::vector<float> storage;
  fs::path dir = poison_fixture("qwen3_moe", "nan_embedding", "model.embed_tokens.weight", 64, std::nanf(""), storage);
  struct Count : RoutingHook {
    int calls = 0;
    void on_routing(const RoutingRecord&) override { ++calls; }
  } hook;
  CHECK(non_finite_error(dir, &hook) ==
        "MoE layer 0 (model layer 0) router scores: NaN at sequence 1, position 0 (of 12, left-padded); the "
        "checkpoint's weights, or the dtype's range, are the likely cause");
  CHECK(hook.calls == 0);  // no routing record leaves the model
}

TEST_CASE("refusing: NaN gates in a later layer name that layer; Inf logits name the logits") {
  std::vector<float> storage;
  // Router of the second MoE layer (model layer 2) all NaN: layer 0's routing is fine and reported.
  fs::path dir = poison_fixture("qwen3_moe", "nan_router", "model.layers.2.mlp.gate.weight", -1, std::nanf(""), storage);
  CHECK(non_finite_error(dir).starts_with("MoE layer 1 (model layer 2) router scores: NaN at sequence 0, position 0 (of 12"));
  // An infinite LM-head row: every position's logits hold ±Inf (or NaN where the hidden value is 0).
  std::vector<float> storage2;
  fs::path inf = poison_fixture("mixtral", "inf_head", "lm_head.weight", 7, INFINITY, storage2);
  const std::string e = non_finite_error(inf);
  CHECK(e.starts_with("logits: "));
  CHECK(e.find("at sequence 0, position 0 (of 12, left-padded)") != std::string::npos);
}

TEST_CASE("refusing: capture writes no trace when the gates are not finite") {
  std::vector<float> storage;
  fs::path dir = poison_fixture("qwen3_moe", "nan_capture", "model.embed_tokens.weight", 64, std::nanf(""), storage);
  CaptureOptions o;
  o.model_dir = dir;
  for (const auto& s : kSequences) o.token_ids.insert(o.token_ids.end(), s.begin(), s.end());
  o.seq_len = 12;
  o.batch = 2;
  o.out = scratch("nan_capture_out") / "trace.h5";
  auto model = MoeModel::load(dir);
  CHECK_THROWS_AS(capture_trace(*model, o), NonFiniteError);
  CHECK_FALSE(fs::exists(o.out));
}

TEST_CASE("deepseek_v2: a V3 checkpoint relabelled V2 loads without its correction bias and routes by softmax") {
  // Smoke test of the V2 paths until transformers fixtures exist (make_parity_fixtures.py: deepseek_v2*):
  // the parse (topk_method, no e_score_correction_bias), and the routing rule on the model's own scores.
  fs::path dir = rewrite_fixture("deepseek_v3_plain", "deepseek_v2_relabelled", [](std::vector<TensorToWrite>& t) {
    std::erase_if(t, [](const TensorToWrite& x) { return x.name.ends_with("e_score_correction_bias"); });
  });
  edit_config(dir, {{"\"deepseek_v3\"", "\"deepseek_v2\", \"topk_method\": \"group_limited_greedy\""},
                    {"\"routed_scaling_factor\": 1.0", "\"routed_scaling_factor\": 2.0"}});
  auto model = MoeModel::load(dir);
  CHECK(model->config().n_group == 2);
  CHECK(model->config().topk_group == 1);
  struct Probs : RoutingHook {
    std::vector<RoutingRecord> records;
    bool wants_router_probs() const override { return true; }
    void on_routing(const RoutingRecord& r) override { records.push_back(r); }
  } hook;
  model->forward(kSequences, &hook);
  REQUIRE(hook.records.size() == 3);
  for (const RoutingRecord& r : hook.records)
    for (std::int64_t t = 0; t < r.tokens; ++t) {
      const float* p = r.router_probs.data() + t * 8;
      double sum = 0;
      for (int e = 0; e < 8; ++e) sum += p[e];
      CHECK(sum == doctest::Approx(1.0));  // softmax, not sigmoid
      // The best group (by its single best score) holds every chosen expert; gates = scores × 2.
      const int best_group = *std::max_element(p, p + 4) >= *std::max_element(p + 4, p + 8) ? 0 : 1;
      for (int j = 0; j < r.top_k; ++j) {
        const int e = r.expert_ids[t * r.top_k + j];
        CHECK(e / 4 == best_group);
        CHECK(r.gates[t * r.top_k + j] == doctest::Approx(2.0 * p[e]));
      }
    }
}

namespace {
// fixture(arch)'s config.json with each `from` replaced by its `to`, read by load_config.
ModelConfig edited_config(const std::string& arch, const ConfigEdits& edits) {
  return load_config(edited_fixture(arch, "sliding_config", edits));
}
}  // namespace

TEST_CASE("sliding window: which layers slide, as each family's transformers config decides it") {
  // Mixtral: sliding_window set means a window on every layer (MixtralModel's mask choice).
  ModelConfig mixtral = edited_config("mixtral", {{"\"sliding_window\": null", "\"sliding_window\": 4"}});
  CHECK(mixtral.sliding_window == 4);
  CHECK(mixtral.sliding_layer == std::vector<bool>{true, true, true});
  CHECK(edited_config("mixtral", {}).sliding_window == 0);
  // Qwen3-MoE: use_sliding_window turns sliding_window on for every layer; off, no window.
  CHECK(edited_config("qwen3_moe", {{"\"sliding_window\": null", "\"sliding_window\": 5"}}).sliding_window == 0);
  ModelConfig qwen3 = edited_config("qwen3_moe", {{"\"sliding_window\": null", "\"sliding_window\": 5"},
                                                  {"\"use_sliding_window\": false", "\"use_sliding_window\": true"}});
  CHECK(qwen3.sliding_window == 5);
  CHECK(qwen3.sliding_layer == std::vector<bool>{true, true, true});
  // Qwen2-MoE: the config's layer_types when listed (transformers 5 writes them), else the layers
  // from max_window_layers on.
  const std::pair<std::string, std::string> on = {"\"use_sliding_window\": false", "\"use_sliding_window\": true"};
  const std::pair<std::string, std::string> size = {"\"sliding_window\": 0", "\"sliding_window\": 3"};
  CHECK(edited_config("qwen2_moe", {on, size}).sliding_window == 0);  // layer_types: full_attention everywhere
  ModelConfig qwen2 = edited_config("qwen2_moe", {on, size, {"\"full_attention\",\n    \"full_attention\"",
                                                             "\"sliding_attention\",\n    \"sliding_attention\""}});
  CHECK(qwen2.sliding_window == 3);
  CHECK(qwen2.sliding_layer == std::vector<bool>{true, true, false});
  qwen2 = edited_config("qwen2_moe", {on, size, {"\"layer_types\"", "\"unused_layer_types\""},
                                      {"\"max_window_layers\": 28", "\"max_window_layers\": 2"}});
  CHECK(qwen2.sliding_layer == std::vector<bool>{false, false, true});
  // A sliding layer without use_sliding_window has no window size to use: refused.
  CHECK_THROWS_WITH_AS(edited_config("qwen2_moe", {{"\"full_attention\",\n    \"full_attention\"",
                                                    "\"sliding_attention\",\n    \"sliding_attention\""}}),
                       doctest::Contains("layer_types lists sliding_attention but use_sliding_window is false"),
                       moesim::InputError);
}

namespace {
// A random float32 checkpoint: names and shapes, values N(0, 0.3) (norm weights around 1).
struct RandomCheckpoint {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes;
  void add(const std::string& name, std::vector<std::int64_t> shape) { shapes.emplace_back(name, std::move(shape)); }
  void write(const fs::path& dir, const std::string& skip = "") const {
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.f, 0.3f);
    std::vector<std::vector<float>> data;
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, shape] : shapes) {
      if (name == skip) continue;
      std::int64_t n = 1;
      for (auto d : shape) n *= d;
      std::vector<float>& v = data.emplace_back(static_cast<std::size_t>(n));
      const bool norm = name.find("norm.weight") != std::string::npos;
      for (float& x : v) x = (norm ? 1.f : 0.f) + normal(rng);
    }
    std::size_t i = 0;
    for (const auto& [name, shape] : shapes)
      if (name != skip) tensors.push_back({name, DType::kF32, shape, std::as_bytes(std::span<const float>(data[i++]))});
    write_safetensors(dir / "model.safetensors", tensors);
  }
};

// The common tiny shape of make_parity_fixtures.py: V 96, H 32, 3 layers, 4 heads of 8, 2 kv heads, 8 experts.
RandomCheckpoint tiny_gqa_checkpoint(bool biases_everywhere) {
  RandomCheckpoint c;
  c.add("model.embed_tokens.weight", {96, 32});
  c.add("model.norm.weight", {32});
  c.add("lm_head.weight", {96, 32});
  for (int l = 0; l < 3; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    c.add(p + "input_layernorm.weight", {32});
    c.add(p + "post_attention_layernorm.weight", {32});
    for (auto [proj, rows] : {std::pair{"q", 32}, {"k", 16}, {"v", 16}, {"o", 32}}) {
      c.add(p + "self_attn." + proj + "_proj.weight", {rows, 32});
      if (biases_everywhere) c.add(p + "self_attn." + proj + "_proj.bias", {rows});
    }
  }
  return c;
}

std::vector<float> last_logits(MoeModel& model, const std::vector<std::int32_t>& ids, int* moe_records = nullptr) {
  struct Count : RoutingHook {
    int n = 0;
    void on_routing(const RoutingRecord&) override { ++n; }
  } count;
  ForwardResult out = model.forward({ids}, &count);
  if (moe_records) *moe_records = count.n;
  auto last = out.at(0, out.seq_len - 1);
  for (float v : out.logits) REQUIRE(std::isfinite(v));
  return {last.begin(), last.end()};
}
}  // namespace

TEST_CASE("gpt_oss: a random checkpoint with the hub's tensor names loads and runs; sinks are required") {
  fs::path dir = scratch("gpt_oss_random");
  std::ofstream(dir / "config.json") << R"({"model_type": "gpt_oss", "vocab_size": 96, "hidden_size": 32,
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
    "intermediate_size": 16, "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": 4,
    "layer_types": ["sliding_attention", "full_attention", "sliding_attention"], "rms_norm_eps": 1e-5,
    "rope_parameters": {"rope_type": "yarn", "rope_theta": 100.0, "factor": 4.0, "beta_fast": 4.0, "beta_slow": 0.25,
                        "truncate": false, "original_max_position_embeddings": 16}})";
  RandomCheckpoint c = tiny_gqa_checkpoint(true);
  for (int l = 0; l < 3; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    c.add(p + "self_attn.sinks", {4});
    c.add(p + "mlp.router.weight", {8, 32});
    c.add(p + "mlp.router.bias", {8});
    c.add(p + "mlp.experts.gate_up_proj", {8, 32, 32});
    c.add(p + "mlp.experts.gate_up_proj_bias", {8, 32});
    c.add(p + "mlp.experts.down_proj", {8, 16, 32});
    c.add(p + "mlp.experts.down_proj_bias", {8, 32});
  }
  c.write(dir);
  ModelConfig config = load_config(dir);
  CHECK(config.sliding_layer == std::vector<bool>{true, false, true});
  auto model = MoeModel::load(dir);
  int records = 0;
  last_logits(*model, {5, 17, 42, 3, 88, 61, 29, 74}, &records);
  CHECK(records == 3);
  c.write(dir, "model.layers.1.self_attn.sinks");
  CHECK(load_error(dir).find("1 missing tensors: model.layers.1.self_attn.sinks") != std::string::npos);
}

TEST_CASE("phimoe: a random checkpoint loads; with a window of 4 on every layer, tokens 10 back are invisible") {
  fs::path dir = scratch("phimoe_random");
  std::ofstream(dir / "config.json") << R"({"model_type": "phimoe", "vocab_size": 96, "hidden_size": 32,
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
    "intermediate_size": 24, "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": 4,
    "attention_bias": true, "lm_head_bias": true, "tie_word_embeddings": false,
    "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.25, 1.5, 2.0], "long_factor": [1.5, 2.0, 3.0, 4.0],
                     "short_mscale": 1.1, "long_mscale": 1.3, "original_max_position_embeddings": 16},
    "rope_theta": 100.0})";
  RandomCheckpoint c = tiny_gqa_checkpoint(true);
  c.add("model.norm.bias", {32});
  c.add("lm_head.bias", {96});
  for (int l = 0; l < 3; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    c.add(p + "input_layernorm.bias", {32});
    c.add(p + "post_attention_layernorm.bias", {32});
    c.add(p + "block_sparse_moe.gate.weight", {8, 32});
    for (int e = 0; e < 8; ++e) {
      const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      c.add(x + "w1.weight", {24, 32});
      c.add(x + "w3.weight", {24, 32});
      c.add(x + "w2.weight", {32, 24});
    }
  }
  c.write(dir);
  ModelConfig config = load_config(dir);
  CHECK(config.norm == Norm::kLayerNorm);
  CHECK(config.rope_scaling.short_mscale == 1.1);
  CHECK(config.rope_scaling.long_mscale == 1.3);
  auto model = MoeModel::load(dir);
  // 20 tokens (beyond the original 16: long factors). Three layers of window 4 reach 3·3 = 9 tokens
  // back, so the last token's logits ignore token 0 but not token 12.
  std::vector<std::int32_t> ids = {5, 17, 42, 3, 88, 61, 29, 74, 8, 50, 33, 90, 11, 64, 2, 39, 77, 19, 56, 23};
  std::vector<float> base = last_logits(*model, ids);
  std::vector<std::int32_t> first_changed = ids, near_changed = ids;
  first_changed[0] = 6;
  near_changed[12] = 6;
  // Not bit-identical: the experts' matmul blocks change size when token 0 picks other experts.
  auto max_diff = [&](const std::vector<float>& other) {
    double m = 0;
    for (std::size_t i = 0; i < base.size(); ++i) m = std::max(m, std::abs(double(other[i]) - base[i]));
    return m;
  };
  CHECK(max_diff(last_logits(*model, first_changed)) < 1e-5);
  CHECK(max_diff(last_logits(*model, near_changed)) > 1e-3);
  c.write(dir, "model.layers.2.input_layernorm.bias");
  CHECK(load_error(dir).find("missing tensors: model.layers.2.input_layernorm.bias") != std::string::npos);
}

TEST_CASE("llama4: the multimodal checkpoint's vision tensors are ignored, a stray text tensor is not") {
  static const float extra[2] = {1, 2};
  fs::path dir = rewrite_fixture("llama4", "llama4_stray", [](std::vector<TensorToWrite>& t) {
    t.push_back({"vision_model.mystery.weight", DType::kF32, {2}, std::as_bytes(std::span<const float>(extra))});
    t.push_back({"language_model.model.layers.0.mystery.weight", DType::kF32, {2}, std::as_bytes(std::span<const float>(extra))});
    std::erase_if(t, [](const TensorToWrite& x) {
      return x.name == "language_model.model.layers.1.feed_forward.shared_expert.up_proj.weight";
    });
  });
  const std::string e = load_error(dir);
  CHECK(e.find("1 missing tensors: language_model.model.layers.1.feed_forward.shared_expert.up_proj.weight") !=
        std::string::npos);
  CHECK(e.find("1 unexpected tensors: language_model.model.layers.0.mystery.weight") != std::string::npos);
}

TEST_CASE("llama4: config fields it cannot follow are refused naming the field") {
  auto config_error = [](const std::string& name, const std::string& edit_from, const std::string& edit_to) {
    return load_error(edited_fixture("llama4_text", name, {{edit_from, edit_to}}));
  };
  CHECK(config_error("l4_type", "\"full_attention\"", "\"sliding_attention\"")
            .find("layer_types[3] = 'sliding_attention' is not supported") != std::string::npos);
  CHECK(config_error("l4_chunk", "\"attention_chunk_size\": 5", "\"attention_chunk_size\": null")
            .find("chunked_attention layers need a positive 'attention_chunk_size'") != std::string::npos);
  CHECK(config_error("l4_moe", "\"moe_layers\": [", "\"moe_layers\": [9,")
            .find("moe_layers lists layer 9, outside 0..3") != std::string::npos);
}

TEST_CASE("loading: an FP8 checkpoint whose config.json lost its quantization_config is refused in one line") {
  // One problem said once, with the count of F8 tensors and eight of their names; their scales are
  // not listed again as unexpected: the line says what to fix, not everything that follows from it.
  const std::string e =
      load_error(edited_fixture("qwen3_moe_fp8", "fp8_unquantized", {{"\"quantization_config\"", "\"unused_quantization_config\""}}));
  INFO(e);
  CHECK(e.find("fp8_unquantized: checkpoint does not match config.json: ") != std::string::npos);
  CHECK(e.find(" quantized tensors not as quantization_config says: ") != std::string::npos);
  CHECK(e.find(" tensors are F8_E4M3 but config.json has no quantization_config (model.layers.0.") != std::string::npos);
  CHECK(e.find("more))") != std::string::npos);
  CHECK(e.find("F8_E4M3") == e.rfind("F8_E4M3"));  // said once
  CHECK(e.find("unexpected") == std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("loading: a quantization_config the loader cannot follow is refused naming the field") {
  auto quantization_error = [](const std::string& from, const std::string& to) {
    return load_error(edited_fixture("qwen3_moe_fp8", "quantization_config", {{from, to}}));
  };
  auto says = [&](const std::string& from, const std::string& to, const std::string& message) {
    const std::string e = quantization_error(from, to);
    INFO(e);
    CHECK(e.find("config.json: " + message) != std::string::npos);
  };
  const std::string block = "\"weight_block_size\": [\n      16,\n      16\n    ]";
  says("\"quantization_config\": {", "\"quantization_config\": 7, \"unused\": {",
       "field 'quantization_config' must be an object");
  says("\"quant_method\": \"fp8\",", "", "missing field 'quant_method'");
  says("\"fmt\": \"e4m3\"", "\"fmt\": \"e5m2\"", "quantization_config.fmt 'e5m2' is not supported (only e4m3)");
  for (const char* wrong : {"[16]", "[16, 16, 16]", "[0, 16]", "[16, -1]", "[16, 16777217]"})
    says(block, std::string("\"weight_block_size\": ") + wrong, "quantization_config.weight_block_size must be two positive sizes");
  says(block, "\"weight_block_size\": [16, 1e30]", "field 'weight_block_size'[1] = 1e+30 is outside");
  says(block, "\"weight_block_size\": \"16x16\"", "field 'weight_block_size' has the wrong type");
}

namespace {

struct KeepRouting : RoutingHook {
  std::vector<RoutingRecord> layers;
  void on_routing(const RoutingRecord& r) override { layers.push_back(r); }
};

// Logits and every MoE layer's expert ids and gates of kSequences, bit for bit.
void check_same_outputs(const MoeModel& a, const MoeModel& b) {
  KeepRouting routing_a, routing_b;
  ForwardResult out_a = a.forward(kSequences, &routing_a), out_b = b.forward(kSequences, &routing_b);
  CHECK(out_a.logits == out_b.logits);
  REQUIRE(routing_a.layers.size() == routing_b.layers.size());
  for (std::size_t l = 0; l < routing_a.layers.size(); ++l) {
    CHECK(routing_a.layers[l].expert_ids == routing_b.layers[l].expert_ids);
    CHECK(routing_a.layers[l].gates == routing_b.layers[l].gates);
  }
}

}  // namespace

TEST_CASE("--mxfp4 keep: gpt-oss experts stay MXFP4 in memory and give the dequantized model's outputs bit for bit") {
  for (const std::string dtype : {"float32", "bfloat16"}) {
    INFO(dtype);
    auto dequantized = MoeModel::load(fixture("gpt_oss_mxfp4"), {"cpu", dtype, "dequantize"});
    auto kept = MoeModel::load(fixture("gpt_oss_mxfp4"), {"cpu", dtype, "keep"});
    check_same_outputs(*dequantized, *kept);
    // 4.25 bits a value (e2m1 + one e8m0 scale per 32) against 16 or 32; the float biases are counted in both.
    MESSAGE(dtype << ": routed experts " << kept->routed_expert_bytes() << " bytes kept, "
                  << dequantized->routed_expert_bytes() << " dequantized");
    CHECK(kept->routed_expert_bytes() * 3 < dequantized->routed_expert_bytes());
  }
}

TEST_CASE("--mxfp4 keep: no effect on a checkpoint without MXFP4 tensors; other values refused") {
  for (const std::string arch : {"gpt_oss", "mixtral", "qwen3_moe_fp8"}) {
    INFO(arch);
    auto dequantized = MoeModel::load(fixture(arch), {"cpu", "float32", "dequantize"});
    auto kept = MoeModel::load(fixture(arch), {"cpu", "float32", "keep"});
    check_same_outputs(*dequantized, *kept);
    CHECK(kept->routed_expert_bytes() == dequantized->routed_expert_bytes());
  }
  CHECK(load_error(fixture("gpt_oss_mxfp4"), {"cpu", "float32", "nf4"}).find("--mxfp4 nf4: expected dequantize or keep") !=
        std::string::npos);
}

TEST_CASE("--mxfp4 keep: MXFP4 tensors are checked as strictly as when dequantized") {
  // A scale tensor of the wrong shape: the same one-line loader error either way.
  fs::path dir = rewrite_fixture("gpt_oss_mxfp4", "mxfp4_bad_scales", [](std::vector<TensorToWrite>& t) {
    for (auto& x : t)
      if (x.name == "model.layers.1.mlp.experts.down_proj_scales") x.shape = {x.shape[0], x.shape[2], x.shape[1]};
  });
  const std::string dequantize_error = load_error(dir, {"cpu", "float32", "dequantize"});
  CHECK(dequantize_error.find("model.layers.1.mlp.experts.down_proj_scales is [") != std::string::npos);
  CHECK(load_error(dir, {"cpu", "float32", "keep"}) == dequantize_error);
}

TEST_CASE("loading: shards may be symbolic links to files elsewhere (a checkpoint split over two disks)") {
  fs::path dir = rewrite_fixture("gpt_oss_mxfp4", "symlinked_shards", [](auto&) {}, 2);
  fs::path elsewhere = scratch("symlinked_shards_elsewhere");
  const std::string shard = "model-00002-of-00002.safetensors";
  fs::rename(dir / shard, elsewhere / shard);
  fs::create_symlink(elsewhere / shard, dir / shard);
  auto single = MoeModel::load(fixture("gpt_oss_mxfp4"));
  auto linked = MoeModel::load(dir, {"cpu", "float32", "keep"});
  check_same_outputs(*single, *linked);
}
