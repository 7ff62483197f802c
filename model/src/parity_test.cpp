// Parity with transformers: each fixture in tests/fixtures/<arch>/ is a tiny random checkpoint
// saved by transformers 5.17 plus its outputs on a fixed left-padded batch
// (tests/fixtures/make_parity_fixtures.py). On CPU in float32 our logits must agree within 1e-4
// and every real token must pick the same set of experts in every MoE layer.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
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

void expect_parity(const std::string& arch) {
  ParityResult r = check_parity(arch);
  MESSAGE(arch << ": max |logits - transformers| = " << r.max_logit_error << ", routing mismatches "
               << r.routing_mismatches << " of " << r.tokens_checked << " token-layers");
  CHECK(r.max_logit_error <= kLogitTolerance);
  CHECK(r.routing_mismatches == 0);
  CHECK(r.tokens_checked > 0);
}

TEST_CASE("parity: mixtral") { expect_parity("mixtral"); }
TEST_CASE("parity: qwen3_moe (per-head q/k norm, renormalised top-k, a dense layer)") { expect_parity("qwen3_moe"); }
TEST_CASE("parity: olmoe (whole q/k norm, no renormalisation, tied embeddings)") { expect_parity("olmoe"); }
TEST_CASE("parity: qwen2_moe (q/k/v biases, sigmoid-gated shared expert)") { expect_parity("qwen2_moe"); }
TEST_CASE("parity: deepseek_v3 (MLA with q low-rank, interleaved RoPE, grouped sigmoid routing)") {
  expect_parity("deepseek_v3");
}
TEST_CASE("parity: deepseek_v3_plain (MLA with q_proj, 2 shared experts, no renormalisation)") {
  expect_parity("deepseek_v3_plain");
}
TEST_CASE("parity: deepseek_v3_yarn (YaRN RoPE with mscale / mscale_all_dim, softmax scale x mscale^2)") {
  expect_parity("deepseek_v3_yarn");
}
TEST_CASE("parity: qwen3_moe_yarn (YaRN RoPE, default attention factor, untruncated ramp)") {
  expect_parity("qwen3_moe_yarn");
}
TEST_CASE("parity: mixtral_llama3 (Llama 3.1 RoPE scaling)") { expect_parity("mixtral_llama3"); }
TEST_CASE("self-check: glm4_moe, ernie4_5_moe, granitemoe against a numpy transcription (tests/fixtures/np_check)") {
  for (const char* arch : {"np_check/glm4_moe", "np_check/ernie4_5_moe", "np_check/granitemoe"}) expect_parity(arch);
}
TEST_CASE("parity: llama4_text (NoPE layer with temperature, chunked RoPE attention, q/k L2 norm, top-1 sigmoid "
          "routing on expert inputs, shared expert, dense layers)") {
  expect_parity("llama4_text");
}
TEST_CASE("parity: llama4 (the text model of a multimodal checkpoint, vision tensors ignored)") {
  expect_parity("llama4");
}
// Not transformers: a numpy re-reading of modeling_llama4.py (tests/fixtures/llama4_numpy_reference.py),
// the same quirks on another tiny random checkpoint.
TEST_CASE("consistency: llama4_text_numpy (numpy re-reading of modeling_llama4.py)") { expect_parity("llama4_text_numpy"); }
TEST_CASE("consistency: llama4_numpy (the same inside a multimodal checkpoint)") { expect_parity("llama4_numpy"); }
