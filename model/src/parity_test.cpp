// Parity with transformers: each fixture in tests/fixtures/<arch>/ is a tiny random checkpoint
// saved by transformers 5.17 plus its outputs on a fixed left-padded batch
// (tests/fixtures/make_parity_fixtures.py). On CPU in float32 our logits must agree within 1e-4
// and every real token must pick the same set of experts in every MoE layer.
#include "doctest_torch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "moesim/model/model.hpp"
#include "moesim/model/safetensors.hpp"

namespace fs = std::filesystem;
using namespace moesim::model;

namespace {

constexpr double kLogitTolerance = 1e-4;

fs::path fixture(const std::string& arch) { return fs::path(MOESIM_SOURCE_DIR) / "tests" / "fixtures" / arch; }

template <class T>
std::vector<T> read_vector(const SafetensorsFile& file, const std::string& name) {
  const TensorView* v = file.find(name);
  REQUIRE_MESSAGE(v, "reference tensor " << name << " missing");
  REQUIRE(v->bytes.size() % sizeof(T) == 0);
  std::vector<T> out(v->bytes.size() / sizeof(T));
  std::memcpy(out.data(), v->bytes.data(), v->bytes.size());
  return out;
}

struct Collect : RoutingHook {
  std::vector<RoutingRecord> records;
  void on_routing(const RoutingRecord& r) override { records.push_back(r); }
};

struct ParityResult {
  double max_logit_error = 0;
  int routing_mismatches = 0;
  int tokens_checked = 0;
};

ParityResult check_parity(const std::string& arch) {
  SafetensorsFile ref(fixture(arch) / "reference.safetensors");
  const TensorView* ids_view = ref.find("input_ids");
  REQUIRE(ids_view);
  const std::int64_t B = ids_view->shape[0], S = ids_view->shape[1];
  auto ids = read_vector<std::int64_t>(ref, "input_ids");
  auto mask = read_vector<std::int64_t>(ref, "attention_mask");
  std::vector<std::vector<std::int32_t>> sequences(B);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < S; ++s)
      if (mask[b * S + s]) sequences[b].push_back(static_cast<std::int32_t>(ids[b * S + s]));

  auto model = MoeModel::load(fixture(arch));
  Collect hook;
  ForwardResult out = model->forward(sequences, &hook);
  REQUIRE(out.seq_len == S);  // the longest sequence fills the batch, so padding lines up with the reference

  ParityResult result;
  auto ref_logits = read_vector<float>(ref, "logits");
  REQUIRE(ref_logits.size() == out.logits.size());
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < S; ++s) {
      if (!mask[b * S + s]) continue;
      CHECK(out.valid[b * S + s] == 1);
      for (std::int64_t v = 0; v < out.vocab; ++v) {
        std::size_t i = static_cast<std::size_t>((b * S + s) * out.vocab + v);
        result.max_logit_error = std::max(result.max_logit_error, std::abs(double(out.logits[i]) - ref_logits[i]));
      }
    }

  const auto moe_layers = model->config().moe_layer_indices();
  REQUIRE(hook.records.size() == moe_layers.size());
  for (const RoutingRecord& r : hook.records) {
    CHECK(r.model_layer == moe_layers[r.moe_index]);
    auto ref_ids = read_vector<std::int64_t>(ref, "topk_ids." + std::to_string(r.model_layer));
    const int k = r.top_k;
    REQUIRE(ref_ids.size() == static_cast<std::size_t>(B * S * k));
    std::int64_t t = 0;  // index among real tokens, in (sequence, position) order
    for (std::int64_t p = 0; p < B * S; ++p) {
      if (!mask[p]) continue;
      std::set<std::int64_t> want(ref_ids.begin() + p * k, ref_ids.begin() + (p + 1) * k);
      std::set<std::int64_t> got(r.expert_ids.begin() + t * k, r.expert_ids.begin() + (t + 1) * k);
      if (want != got) ++result.routing_mismatches;
      // Gates come largest first and, where renormalised, sum to 1 (or to the scaling factor).
      for (int j = 1; j < k; ++j) CHECK(r.gates[t * k + j - 1] >= r.gates[t * k + j]);
      ++result.tokens_checked;
      ++t;
    }
    CHECK(t == r.tokens);
  }
  return result;
}

}  // namespace

// The largest logit difference to two digits ("3.1e-07"). It differs in its last bits between BLAS
// builds and thread counts, so the ctest that compares the README's table leaves this column out.
std::string two_digits(double error) {
  std::ostringstream out;
  out.precision(2);
  out << error;
  return out.str();
}

std::string weights_of(const ModelConfig& c) {
  switch (c.quantization.format) {
    case WeightFormat::kFp8Blocks:
      return "FP8 e4m3, " + std::to_string(c.quantization.block_rows) + "×" + std::to_string(c.quantization.block_cols) +
             " blocks";
    case WeightFormat::kMxfp4: return "MXFP4 experts";
    case WeightFormat::kPlain: break;
  }
  return "float32";
}

// Checks one fixture and prints its row of the parity table (model/parity_table.cmake collects them).
void expect_parity(const std::string& arch, const std::string& what) {
  ParityResult r = check_parity(arch);
  const ModelConfig config = load_config(fixture(arch));
  MESSAGE("parity row: | `" << arch << "` | `" << config.model_type << "` | " << weights_of(config) << " | " << what
                            << " | " << two_digits(r.max_logit_error) << " | " << r.routing_mismatches << " of "
                            << r.tokens_checked << " |");
  CHECK(r.max_logit_error <= kLogitTolerance);
  CHECK(r.routing_mismatches == 0);
  CHECK(r.tokens_checked > 0);
}

// One line per fixture in tests/fixtures/ (made by make_parity_fixtures.py with transformers 5.17).
TEST_CASE("parity: mixtral") { expect_parity("mixtral", "GQA, softmax top-2 renormalised, experts w1/w3/w2"); }
TEST_CASE("parity: mixtral_llama3") { expect_parity("mixtral_llama3", "Llama 3.1 RoPE scaling"); }
TEST_CASE("parity: qwen3_moe") { expect_parity("qwen3_moe", "per-head q/k norm, renormalised top-k, a dense layer"); }
TEST_CASE("parity: qwen3_moe_yarn") { expect_parity("qwen3_moe_yarn", "YaRN RoPE, default attention factor, untruncated ramp"); }
TEST_CASE("parity: olmoe") { expect_parity("olmoe", "whole q/k norm, no renormalisation, tied embeddings"); }
TEST_CASE("parity: qwen2_moe") { expect_parity("qwen2_moe", "q/k/v biases, sigmoid-gated shared expert"); }
TEST_CASE("parity: deepseek_v3") { expect_parity("deepseek_v3", "MLA with q low-rank, interleaved RoPE, grouped sigmoid routing"); }
TEST_CASE("parity: deepseek_v3_plain") { expect_parity("deepseek_v3_plain", "MLA with q_proj, 2 shared experts, no renormalisation"); }
TEST_CASE("parity: deepseek_v3_yarn") { expect_parity("deepseek_v3_yarn", "YaRN with mscale / mscale_all_dim, softmax scale × mscale²"); }
TEST_CASE("parity: deepseek_v2") { expect_parity("deepseek_v2", "MLA with q low-rank, softmax group_limited_greedy, scaled gates"); }
TEST_CASE("parity: deepseek_v2_lite") { expect_parity("deepseek_v2_lite", "MLA without q low-rank, greedy top-3, 2 shared experts"); }
TEST_CASE("parity: glm4_moe") {
  expect_parity("glm4_moe", "partial rotary, q/k norm, q/k/v biases, grouped sigmoid routing, shared expert, dense first layer");
}
TEST_CASE("parity: ernie4_5_moe") { expect_parity("ernie4_5_moe", "interleaved RoPE, use_bias, biased softmax routing, shared expert"); }
TEST_CASE("parity: granitemoe") { expect_parity("granitemoe", "embedding/residual/attention/logit multipliers, fused experts"); }
TEST_CASE("parity: gpt_oss") {
  expect_parity("gpt_oss", "attention sinks, sliding/full layers, YaRN, biased router, clamped SwiGLU experts");
}
TEST_CASE("parity: phimoe") { expect_parity("phimoe", "LayerNorm, attention and LM-head biases, longrope, sliding window, sparsemixer"); }
TEST_CASE("parity: llama4_text") {
  expect_parity("llama4_text", "NoPE layer with temperature, chunked attention, q/k L2 norm, sigmoid top-1 on expert inputs");
}
TEST_CASE("parity: llama4") { expect_parity("llama4", "the text model of a multimodal checkpoint, vision tensors ignored"); }
TEST_CASE("parity: deepseek_v3_fp8") { expect_parity("deepseek_v3_fp8", "FP8 weights, 128×128 blocks, partial edge blocks"); }
TEST_CASE("parity: qwen3_moe_fp8") { expect_parity("qwen3_moe_fp8", "FP8 weights, 16×16 blocks"); }
TEST_CASE("parity: gpt_oss_mxfp4") { expect_parity("gpt_oss_mxfp4", "MXFP4 experts (e2m1 + e8m0 scales)"); }
