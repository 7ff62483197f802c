// Sliding-window and last-word scoring (perplexity.hpp), batched: windows of equal length share
// one forward pass; LAMBADA examples are sorted by length and left-padded.
#include "perplexity.hpp"

#include <algorithm>
#include <numeric>

#include "moesim/common/error.hpp"

namespace moesim::model {

namespace {

struct Window {
  std::int64_t begin = 0, end = 0, first_scored = 0;  // absolute positions; scored: [first_scored, end)
};

std::vector<Window> sliding_windows(std::int64_t n, int seq, int stride) {
  std::vector<Window> windows;
  std::int64_t prev_end = 0;
  for (std::int64_t begin = 0; begin < n; begin += stride) {
    const std::int64_t end = std::min<std::int64_t>(begin + seq, n);
    windows.push_back({begin, end, std::max(prev_end, begin + 1)});
    prev_end = end;
    if (end == n) break;
  }
  return windows;
}

// Σ NLL of the scored tokens of windows that all have the same length L.
void score_windows(const LogitsFn& logits_of, const at::Tensor& stream, const std::vector<Window>& group, NllSum& sum) {
  const std::int64_t B = static_cast<std::int64_t>(group.size()), L = group[0].end - group[0].begin;
  std::vector<std::int64_t> begins, firsts;
  for (const Window& w : group) begins.push_back(w.begin), firsts.push_back(w.first_scored - w.begin);
  const auto device = stream.device();
  at::Tensor offsets = at::arange(L, stream.options());                                         // (L)
  at::Tensor starts = at::tensor(begins, at::kLong).to(device).unsqueeze(1);                   // (B, 1)
  at::Tensor ids = stream.index_select(0, (starts + offsets).reshape({-1})).reshape({B, L});   // (B, L)
  at::Tensor valid = at::ones({B, L}, ids.options().dtype(at::kBool));
  at::Tensor logits = logits_of(ids, valid);                                                   // (B, L, V)
  const std::int64_t V = logits.size(2);
  // Row q−1 predicts token q; token q counts when q ≥ first scored offset of its window.
  at::Tensor nll = at::cross_entropy_loss(logits.narrow(1, 0, L - 1).reshape({-1, V}).to(at::kFloat),
                                          ids.narrow(1, 1, L - 1).reshape({-1}), {}, at::Reduction::None)
                       .reshape({B, L - 1});                                                   // (B, L−1)
  at::Tensor first = at::tensor(firsts, at::kLong).to(device).unsqueeze(1);                    // (B, 1)
  at::Tensor scored = (offsets.narrow(0, 1, L - 1).unsqueeze(0) >= first);                      // (B, L−1)
  sum.nll += nll.masked_select(scored).to(at::kDouble).sum().item<double>();
  sum.tokens += scored.sum().item<std::int64_t>();
}

}  // namespace

NllSum sliding_window_nll(const LogitsFn& logits_of, const std::vector<std::int32_t>& tokens, int seq, int stride,
                          int batch, at::Device device, const std::function<void(std::int64_t, std::int64_t)>& progress) {
  if (seq < 2) throw InputError("--seq must be at least 2");
  if (stride < 1 || stride > seq) throw InputError("--stride must be between 1 and --seq");
  if (batch < 1) throw InputError("--batch must be at least 1");
  NllSum sum;
  if (tokens.size() < 2) return sum;
  at::Tensor stream = at::tensor(at::ArrayRef<std::int32_t>(tokens), at::kInt).to(at::kLong).to(device);  // (N)
  const std::vector<Window> windows = sliding_windows(static_cast<std::int64_t>(tokens.size()), seq, stride);
  const std::int64_t total = static_cast<std::int64_t>(windows.size());
  std::size_t i = 0;
  while (i < windows.size()) {
    // A group: up to `batch` consecutive windows of the same length (only the last may be shorter).
    std::vector<Window> group;
    const std::int64_t L = windows[i].end - windows[i].begin;
    while (i < windows.size() && static_cast<int>(group.size()) < batch && windows[i].end - windows[i].begin == L)
      group.push_back(windows[i++]);
    if (L >= 2) score_windows(logits_of, stream, group, sum);
    if (progress) progress(static_cast<std::int64_t>(i), total);
  }
  return sum;
}

LastWordScore last_word_score(const LogitsFn& logits_of, const std::vector<LastWordExample>& examples, int batch,
                              at::Device device, const std::function<void(std::int64_t, std::int64_t)>& progress) {
  if (batch < 1) throw InputError("--batch must be at least 1");
  LastWordScore score;
  std::vector<std::size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  auto length = [&](std::size_t e) { return examples[e].context.size() + examples[e].target.size() - 1; };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return length(a) < length(b); });
  for (std::size_t first = 0; first < order.size(); first += static_cast<std::size_t>(batch)) {
    const std::size_t last = std::min(order.size(), first + static_cast<std::size_t>(batch));
    const std::int64_t B = static_cast<std::int64_t>(last - first);
    std::int64_t S = 0;
    for (std::size_t i = first; i < last; ++i) S = std::max<std::int64_t>(S, static_cast<std::int64_t>(length(order[i])));
    // Left padding: example b's input (context + target without its last token) ends at column S−1.
    at::Tensor ids = at::zeros({B, S}, at::kLong), valid = at::zeros({B, S}, at::kBool);
    std::vector<std::int64_t> rows, cols, targets;  // where each target token is predicted
    auto ids_a = ids.accessor<std::int64_t, 2>();
    auto valid_a = valid.accessor<bool, 2>();
    for (std::int64_t b = 0; b < B; ++b) {
      const LastWordExample& ex = examples[order[first + static_cast<std::size_t>(b)]];
      if (ex.context.empty() || ex.target.empty()) throw InputError("last-word example with an empty context or target");
      std::vector<std::int32_t> input = ex.context;
      input.insert(input.end(), ex.target.begin(), ex.target.end() - 1);
      const std::int64_t n = static_cast<std::int64_t>(input.size()), pad = S - n;
      for (std::int64_t i = 0; i < n; ++i) ids_a[b][pad + i] = input[i], valid_a[b][pad + i] = true;
      for (std::size_t t = 0; t < ex.target.size(); ++t) {
        rows.push_back(b);
        cols.push_back(pad + static_cast<std::int64_t>(ex.context.size()) - 1 + static_cast<std::int64_t>(t));
        targets.push_back(ex.target[t]);
      }
    }
    at::Tensor logits = logits_of(ids.to(device), valid.to(device)).to(at::kFloat);               // (B, S, V)
    const std::int64_t V = logits.size(2);
    at::Tensor flat_rows = at::tensor(rows, at::kLong) * S + at::tensor(cols, at::kLong);         // (n_targets)
    at::Tensor picked = logits.reshape({B * S, V}).index_select(0, flat_rows.to(device));         // (n_targets, V)
    at::Tensor tgt = at::tensor(targets, at::kLong).to(device);
    at::Tensor nll = at::cross_entropy_loss(picked, tgt, {}, at::Reduction::None).to(at::kCPU, at::kDouble);  // (n)
    at::Tensor hit = (picked.argmax(-1) == tgt).to(at::kCPU);                                      // (n)
    auto nll_a = nll.accessor<double, 1>();
    auto hit_a = hit.accessor<bool, 1>();
    // Per example: sum its target tokens' NLL, correct if every token is the argmax.
    std::vector<double> example_nll(static_cast<std::size_t>(B), 0.0);
    std::vector<bool> example_hit(static_cast<std::size_t>(B), true);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      example_nll[static_cast<std::size_t>(rows[i])] += nll_a[static_cast<std::int64_t>(i)];
      example_hit[static_cast<std::size_t>(rows[i])] = example_hit[static_cast<std::size_t>(rows[i])] && hit_a[static_cast<std::int64_t>(i)];
    }
    for (std::int64_t b = 0; b < B; ++b) {
      score.nll += example_nll[static_cast<std::size_t>(b)];
      score.correct += example_hit[static_cast<std::size_t>(b)] ? 1 : 0;
    }
    score.examples += B;
    score.target_tokens += static_cast<std::int64_t>(rows.size());
    if (progress) progress(score.examples, static_cast<std::int64_t>(examples.size()));
  }
  return score;
}

NllSum next_token_nll(const std::vector<std::vector<std::int32_t>>& sequences, const ForwardResult& r) {
  const std::int64_t B = r.batch, S = r.seq_len, V = r.vocab;
  if (static_cast<std::int64_t>(sequences.size()) != B || r.logits.empty() || S < 2) return {};
  // Row q−1 predicts token q; sequence b's tokens sit in columns [S − n, S).
  at::Tensor ids = at::zeros({B, S}, at::kLong), scored = at::zeros({B, S - 1}, at::kBool);
  auto ids_a = ids.accessor<std::int64_t, 2>();
  auto scored_a = scored.accessor<bool, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    const auto n = static_cast<std::int64_t>(sequences[static_cast<std::size_t>(b)].size());
    for (std::int64_t i = 0; i < n; ++i) ids_a[b][S - n + i] = sequences[static_cast<std::size_t>(b)][static_cast<std::size_t>(i)];
    for (std::int64_t q = S - n + 1; q < S; ++q) scored_a[b][q - 1] = true;
  }
  at::Tensor logits = at::from_blob(const_cast<float*>(r.logits.data()), {B, S, V}, at::kFloat);  // (B, S, V)
  at::Tensor nll = at::cross_entropy_loss(logits.narrow(1, 0, S - 1).reshape({-1, V}), ids.narrow(1, 1, S - 1).reshape({-1}),
                                          {}, at::Reduction::None)
                       .reshape({B, S - 1});                                                       // (B, S−1)
  return {nll.masked_select(scored).to(at::kDouble).sum().item<double>(), scored.sum().item<std::int64_t>()};
}

LastWordScore score_last_word(const MoeModel& model, const std::vector<LastWordExample>& examples, int batch) {
  // last_word_score pads as MoeModel::forward does (left, to the longest): strip and re-pad.
  LogitsFn logits_of = [&](const at::Tensor& ids, const at::Tensor& valid) {
    const std::int64_t B = ids.size(0), S = ids.size(1);
    auto ids_a = ids.accessor<std::int64_t, 2>();
    auto valid_a = valid.accessor<bool, 2>();
    std::vector<std::vector<std::int32_t>> sequences(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t s = 0; s < S; ++s)
        if (valid_a[b][s]) sequences[static_cast<std::size_t>(b)].push_back(static_cast<std::int32_t>(ids_a[b][s]));
    ForwardResult r = model.forward(sequences);
    return at::from_blob(r.logits.data(), {r.batch, r.seq_len, r.vocab}, at::kFloat).clone();  // (B, S, V)
  };
  return last_word_score(logits_of, examples, batch, at::kCPU);
}

}  // namespace moesim::model
