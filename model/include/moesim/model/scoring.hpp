#pragma once
// Perplexity and LAMBADA scoring behind a LibTorch-free interface, for code outside model/ that must
// score exactly as `moesim eval-ppl` does (cli/assign_eval.cpp). The arithmetic is model/src/perplexity.cpp's.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "moesim/model/model.hpp"

namespace moesim::model {

class Tokenizer;

struct NllSum {
  double nll = 0;           // Σ −ln p(token), nats
  std::int64_t tokens = 0;  // tokens scored
  double loss() const { return tokens ? nll / static_cast<double>(tokens) : 0.0; }
  double ppl() const { return std::exp(loss()); }
  NllSum& operator+=(const NllSum& o) {
    nll += o.nll, tokens += o.tokens;
    return *this;
  }
};

// Σ −ln p(next token) over every position of every sequence that has a next token, from the logits
// of one forward pass over those sequences (`r`, left-padded as MoeModel::forward pads them): the
// perplexity of non-overlapping windows (each window's first token unscored), as eval-ppl scores
// windows with --stride equal to --seq.
NllSum next_token_nll(const std::vector<std::vector<std::int32_t>>& sequences, const ForwardResult& r);

// LAMBADA: each example's context (BOS included) and target word's token ids. Correct when greedy
// decoding reproduces every target token; word perplexity = exp(mean over examples of −ln p(word)),
// as lm-evaluation-harness reports it; token perplexity = exp(Σ NLL / target tokens).
struct LastWordExample {
  std::vector<std::int32_t> context, target;
};
struct LastWordScore {
  std::int64_t examples = 0, correct = 0, target_tokens = 0;
  double nll = 0;  // Σ over examples of −ln p(target word)
  double accuracy() const { return examples ? static_cast<double>(correct) / static_cast<double>(examples) : 0.0; }
  double word_ppl() const { return examples ? std::exp(nll / static_cast<double>(examples)) : 0.0; }
  double token_ppl() const { return target_tokens ? std::exp(nll / static_cast<double>(target_tokens)) : 0.0; }
};

// The first max_examples (0: all) LAMBADA examples of data_dir, tokenized as lm-evaluation-harness
// does: target ids = encode(context + " " + target) minus encode(context), or encode(" " + target)
// where the first is not a prefix of the second (no example is skipped).
std::vector<LastWordExample> lambada_examples(const Tokenizer& tokenizer, const std::filesystem::path& data_dir,
                                              std::size_t max_examples);

// The last-word score of `model` (its routing strategy applied) on `examples`, `batch` per forward pass.
LastWordScore score_last_word(const MoeModel& model, const std::vector<LastWordExample>& examples, int batch);

}  // namespace moesim::model
