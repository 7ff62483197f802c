// What every strategy shares: the architecture's gate rule applied to new choices, the counters
// (kept, dropped, rerouted pairs, load per expert), and the name → factory table.
#include "strategy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "moesim/common/error.hpp"

namespace moesim::model::strategies {

layers::Routing gates_for(const RouterView& view, const at::Tensor& ids) {
  at::Tensor present = ids.ge(0);                                              // (T, k') false = empty slot
  at::Tensor gates = view.scores.gather(1, ids.clamp_min(0)) * present;       // (T, k')
  if (view.renormalize) gates = gates / (gates.sum(-1, /*keepdim=*/true) + 1e-20);
  gates = gates * view.scaling;
  at::Tensor order = std::get<1>(gates.sort(-1, /*descending=*/true));         // empty slots (gate 0) last
  return {ids.gather(1, order), gates.gather(1, order), view.scores, view.natural ? view.natural->logits : at::Tensor()};
}

layers::Routing RoutingStrategy::apply(const RouterView& view, int moe_index) {
  layers::Routing r = route(view, moe_index);
  const int64_t T = view.scores.size(0), E = view.scores.size(1);
  at::Tensor present = r.expert_ids.ge(0);                                     // (T, k')
  at::Tensor per_token = present.sum(1);                                       // (T) experts each token got
  at::Tensor chosen = at::zeros({T, E + 1}, present.options())                 // (T, E) one-hot of the new choice
                          .scatter_(1, r.expert_ids.masked_fill(present.logical_not(), E), true)
                          .narrow(1, 0, E);
  at::Tensor natural = at::zeros({T, E}, present.options()).scatter_(1, view.natural->expert_ids, true);
  at::Tensor load = chosen.sum(0).to(at::kCPU, at::kLong).contiguous();        // (E)
  if (static_cast<int>(stats_.size()) <= moe_index) stats_.resize(moe_index + 1);
  StrategyLayerStats& s = stats_[moe_index];
  if (s.expert_load.empty()) s.expert_load.assign(E, 0);
  for (int64_t e = 0; e < E; ++e) s.expert_load[e] += static_cast<std::uint64_t>(load.data_ptr<int64_t>()[e]);
  s.tokens += T;
  s.pairs_natural += T * view.k;
  s.pairs_kept += present.sum().item<int64_t>();
  s.dropped_pairs += (view.k - per_token).clamp_min(0).sum().item<int64_t>();
  s.dropped_tokens += per_token.eq(0).sum().item<int64_t>();
  s.rerouted_pairs += (chosen & natural.logical_not()).sum().item<int64_t>();
  return r;
}

std::vector<StrategyLayerStats> RoutingStrategy::stats() const { return stats_; }
void RoutingStrategy::reset_stats() { stats_.clear(); }

std::vector<std::int64_t> parse_expert_list(const std::string& text) {
  std::vector<std::int64_t> out;
  if (text == "all") return out;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t end = std::min(text.find('+', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    const std::size_t dash = item.find('-');
    std::int64_t a = 0, b = 0;
    std::from_chars(item.data(), item.data() + (dash == std::string::npos ? item.size() : dash), a);
    b = a;
    if (dash != std::string::npos) std::from_chars(item.data() + dash + 1, item.data() + item.size(), b);
    for (std::int64_t e = a; e <= b; ++e) out.push_back(e);
    begin = end + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::unique_ptr<RoutingStrategy> make_strategy(const StrategySpec& spec) {
  using Factory = std::unique_ptr<RoutingStrategy> (*)(const StrategySpec&);
  static const std::pair<const char*, Factory> factories[] = {
      {"topk", make_topk},           {"balanced", make_balanced},   {"round_robin", make_round_robin},
      {"random", make_random},       {"filtered", make_filtered},   {"temperature", make_temperature},
      {"capacity", make_capacity},   {"expert_choice", make_expert_choice}, {"base", make_base},
      {"bias", make_bias},           {"load_temperature", make_load_temperature}};
  for (const auto& [name, factory] : factories)
    if (spec.name == name) return factory(spec);
  throw InputError(fmt::format("strategy {}: no implementation", spec.name));
}

}  // namespace moesim::model::strategies
