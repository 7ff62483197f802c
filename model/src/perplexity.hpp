#pragma once
// Perplexity arithmetic, independent of where logits come from (a Network, or a hand-made function
// in tests). Internal to model/ (ATen).
//
// Sliding window (the Hugging Face perplexity recipe, docs "Perplexity of fixed-length models"):
// windows start at 0, stride, 2·stride, … and hold up to `seq` tokens; window [begin, end) scores the
// tokens [max(prev_end, begin + 1), end), each predicted from all tokens of the window before it,
// and the loop stops at the window that reaches the end. With stride < seq every token but the very
// first is scored exactly once (N − 1 tokens); with stride = seq each window's first token goes
// unscored, as in the recipe. Perplexity = exp(Σ NLL / tokens scored).
#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "moesim/model/scoring.hpp"

namespace moesim::model {

// ids (B, S) int64 and valid (B, S) bool (left padding) on the device → logits (B, S, V) float32.
using LogitsFn = std::function<at::Tensor(const at::Tensor& ids, const at::Tensor& valid)>;

// `batch` windows per forward pass. progress(windows done, windows total) after each batch.
NllSum sliding_window_nll(const LogitsFn& logits_of, const std::vector<std::int32_t>& tokens, int seq, int stride,
                          int batch, at::Device device, const std::function<void(std::int64_t, std::int64_t)>& progress = {});

// LAMBADA (LastWordExample, LastWordScore: moesim/model/scoring.hpp).
LastWordScore last_word_score(const LogitsFn& logits_of, const std::vector<LastWordExample>& examples, int batch,
                              at::Device device, const std::function<void(std::int64_t, std::int64_t)>& progress = {});

}  // namespace moesim::model
