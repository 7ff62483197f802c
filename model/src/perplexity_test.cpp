// Perplexity arithmetic with hand-made logits: a uniform model, and a bigram table whose NLL can be
// summed by hand independently of how windows and batches cut the stream.
#include "doctest_torch.hpp"

#include <cmath>

#include "perplexity.hpp"

using namespace moesim::model;

namespace {
constexpr int kVocab = 5;

LogitsFn uniform_model() {
  return [](const at::Tensor& ids, const at::Tensor&) { return at::zeros({ids.size(0), ids.size(1), kVocab}); };
}

// P(next | current) = table[current]; logits = ln P, so that log_softmax gives P back.
at::Tensor bigram_table() {
  at::Tensor t = at::full({kVocab, kVocab}, 0.05f);
  for (int i = 0; i < kVocab; ++i) t[i][(i + 1) % kVocab] = 0.8f;  // mostly i → i+1
  return t;
}
LogitsFn bigram_model() {
  at::Tensor log_p = bigram_table().log();
  return [log_p](const at::Tensor& ids, const at::Tensor&) {
    return log_p.index_select(0, ids.reshape({-1})).reshape({ids.size(0), ids.size(1), kVocab});
  };
}
std::vector<std::int32_t> stream(int n) {
  std::vector<std::int32_t> s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<std::int32_t>((i * i + i / 3) % kVocab));
  return s;
}
}  // namespace

TEST_CASE("sliding window: a uniform model has perplexity = vocabulary size; every token but the first scored once") {
  NllSum s = sliding_window_nll(uniform_model(), stream(10), /*seq=*/4, /*stride=*/2, /*batch=*/2, at::kCPU);
  CHECK(s.tokens == 9);
  CHECK(s.ppl() == doctest::Approx(kVocab));
  // stride = seq: windows [0,4) [4,8) [8,10) leave positions 0, 4, 8 unscored (as the HF recipe does)
  NllSum t = sliding_window_nll(uniform_model(), stream(10), 4, 4, 3, at::kCPU);
  CHECK(t.tokens == 7);
  CHECK(t.ppl() == doctest::Approx(kVocab));
}

TEST_CASE("sliding window: bigram model NLL equals the hand sum, whatever seq, stride and batch") {
  const std::vector<std::int32_t> s = stream(23);
  at::Tensor table = bigram_table();
  double expected = 0;
  for (std::size_t j = 1; j < s.size(); ++j) expected -= std::log(table[s[j - 1]][s[j]].item<double>());
  for (auto [seq, stride, batch] : {std::tuple{4, 2, 1}, {5, 3, 2}, {8, 1, 4}, {30, 15, 2}}) {
    CAPTURE(seq);
    CAPTURE(stride);
    NllSum r = sliding_window_nll(bigram_model(), s, seq, stride, batch, at::kCPU);
    CHECK(r.tokens == 22);
    CHECK(r.nll == doctest::Approx(expected).epsilon(1e-5));
  }
}

TEST_CASE("last word: accuracy and perplexities of left-padded batches") {
  at::Tensor table = bigram_table();
  // Example 1: context (0, 1), target (2, 3): both greedy-correct (i → i+1).
  // Example 2: context (4, 4, 4, 0), target (3): wrong (0 → 1 expected).
  std::vector<LastWordExample> ex = {{{0, 1}, {2, 3}}, {{4, 4, 4, 0}, {3}}};
  LastWordScore r = last_word_score(bigram_model(), ex, /*batch=*/2, at::kCPU);
  const double nll1 = -std::log(0.8) - std::log(0.8), nll2 = -std::log(0.05);
  CHECK(r.examples == 2);
  CHECK(r.correct == 1);
  CHECK(r.accuracy() == doctest::Approx(0.5));
  CHECK(r.target_tokens == 3);
  CHECK(r.word_ppl() == doctest::Approx(std::exp((nll1 + nll2) / 2)).epsilon(1e-5));
  CHECK(r.token_ppl() == doctest::Approx(std::exp((nll1 + nll2) / 3)).epsilon(1e-5));
  LastWordScore one_by_one = last_word_score(bigram_model(), ex, 1, at::kCPU);
  CHECK(one_by_one.nll == doctest::Approx(r.nll).epsilon(1e-6));
}
