#pragma once
// The hook point between a MoE router and its experts: an architecture computes its router scores,
// and where it would take the top-k it asks the RoutingStrategy instead (network.hpp). Internal to
// model/ (ATen). One file per strategy in this folder; registry.cpp names them.
//
// Conventions (see layers.hpp for the dimension letters):
//   - Routing.expert_ids (T, k') int64 with k' usually k; a slot of −1 (gate 0) is empty: the token
//     skips that expert and only the residual carries it (capacity dropping, expert choice).
//   - Gates come from the router's own scores for the chosen experts, renormalised and scaled as the
//     architecture does (gates_for), so a strategy changes *which* experts run, not the gate rule.
//   - Vectorised tensor code; the two strategies that need a loop over tokens (balanced's greedy,
//     base's auction) run it on CPU copies of the scores, outside autograd, O(T·k·log E) / auction.
#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "../layers.hpp"
#include "moesim/model/strategy.hpp"

namespace moesim::model::strategies {

// What the router computed for T tokens of one MoE layer.
struct RouterView {
  at::Tensor scores;          // (T, E) float32: softmax probabilities, or DeepSeek's sigmoid scores
  at::Tensor selection_bias;  // (E) float32 added for selection only (DeepSeek), or undefined
  bool sigmoid = false;       // scores are independent sigmoids (DeepSeek) rather than a softmax
  int k = 1;
  bool renormalize = true;    // gates of the chosen experts divided by their sum
  double scaling = 1.0;       // × routed_scaling_factor (DeepSeek)
  const layers::Routing* natural = nullptr;  // the architecture's own routing of these tokens
};

// Gates for chosen ids (T, k') (−1 = empty slot → gate 0), with the architecture's rule, and the
// slots sorted so that column 0 holds the largest gate (the trace format's order).
layers::Routing gates_for(const RouterView& view, const at::Tensor& ids);

class RoutingStrategy {
 public:
  explicit RoutingStrategy(StrategySpec spec) : spec_(std::move(spec)) {}
  virtual ~RoutingStrategy() = default;
  const StrategySpec& spec() const { return spec_; }
  // Refuses (InputError) parameters that do not fit the model, e.g. filtered:allow=9 with 8 experts.
  virtual void check(int /*num_experts*/, int /*k*/) const {}
  // Reroutes one MoE layer and records what changed (stats()).
  layers::Routing apply(const RouterView& view, int moe_index);
  std::vector<StrategyLayerStats> stats() const;
  void reset_stats();

 protected:
  virtual layers::Routing route(const RouterView& view, int moe_index) = 0;

 private:
  StrategySpec spec_;
  std::vector<StrategyLayerStats> stats_;  // per MoE layer
};

std::unique_ptr<RoutingStrategy> make_strategy(const StrategySpec& spec);

// One factory per file.
std::unique_ptr<RoutingStrategy> make_topk(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_balanced(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_round_robin(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_random(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_filtered(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_temperature(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_capacity(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_expert_choice(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_base(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_bias(const StrategySpec& spec);
std::unique_ptr<RoutingStrategy> make_load_temperature(const StrategySpec& spec);

// The pure-C++ cores, exposed for tests.
// balanced: tokens in order, each takes its best-ranked experts with room left. ranking (T, E)
// expert ids by descending score; capacity per expert. Returns (T, k) ids, −1 where no expert had room.
std::vector<std::int64_t> greedy_with_capacity(const std::vector<std::int64_t>& ranking, std::int64_t T,
                                               std::int64_t E, int k, std::int64_t capacity);
// base: maximise Σ benefit[t, assigned(t)] with each expert taking at most `capacity` tokens and
// excluded[t·E + e] forbidding pairs; forward auction (Bertsekas) with bid increment eps, so the
// result is within T·eps of the optimum. benefit (T, E) row-major. Returns one expert per token.
std::vector<std::int64_t> auction_assign(const std::vector<double>& benefit, std::int64_t T, std::int64_t E,
                                         std::int64_t capacity, const std::vector<std::uint8_t>& excluded, double eps);
// filtered: "0-3+6" → {0, 1, 2, 3, 6} (validated by parse_strategy); "all" → {} (every expert).
std::vector<std::int64_t> parse_expert_list(const std::string& text);
// filtered:drop-least: the `count` experts with the smallest usage (ties: the lower id first) among
// `allowed` (E) — what remains allowed. usage (E) pair counts.
std::vector<bool> drop_least_used(const std::vector<std::uint64_t>& usage, std::vector<bool> allowed, int count);
// load_temperature: the selection penalty t·(ℓ_e − 1) with ℓ_e = E·load_e / Σ load (1 at balance; 0
// everywhere when nothing was counted yet).
std::vector<double> load_penalty(const std::vector<double>& recent_load, double t);

}  // namespace moesim::model::strategies
