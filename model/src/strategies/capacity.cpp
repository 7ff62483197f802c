// capacity: GShard/Switch token dropping. The router's own top-k stands, but each expert computes at
// most C = ceil(factor · T·k / E) pairs; priority goes to slot 0 of every token (in batch order),
// then slot 1, … (GShard). Pairs past C are dropped: the slot is empty, the token keeps its other
// experts with their original gates (not renormalised), and the residual carries the rest.
// Vectorised: a stable sort of the slot-major pairs by expert gives each pair its rank in its expert.
#include <cmath>

#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class Capacity final : public RoutingStrategy {
 public:
  explicit Capacity(const StrategySpec& spec) : RoutingStrategy(spec), factor_(spec.number("factor")) {}

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const layers::Routing& natural = *view.natural;
    const int64_t T = natural.expert_ids.size(0), k = natural.expert_ids.size(1), E = view.scores.size(1);
    const auto capacity = static_cast<int64_t>(std::ceil(factor_ * static_cast<double>(T * k) / E - 1e-9));
    at::Tensor pairs = natural.expert_ids.t().reshape({k * T});                  // (k·T) slot-major: priority order
    at::Tensor order = std::get<1>(at::sort(pairs, c10::optional<bool>(true), 0));       // (k·T) grouped by expert, priority kept
    at::Tensor sorted = pairs.index_select(0, order);                            // (k·T)
    at::Tensor counts = sorted.bincount({}, E);                                  // (E)
    at::Tensor first = counts.cumsum(0) - counts;                                // (E) where each expert's run starts
    at::Tensor rank_sorted = at::arange(k * T, pairs.options()) - first.index_select(0, sorted);
    at::Tensor rank = at::empty_like(rank_sorted).index_put_({order}, rank_sorted);  // (k·T) rank within its expert
    at::Tensor keep = rank.lt(capacity).view({k, T}).t();                        // (T, k)
    at::Tensor ids = natural.expert_ids.masked_fill(keep.logical_not(), -1);     // (T, k)
    at::Tensor gates = natural.gates * keep;                                     // (T, k) original gates
    at::Tensor slot = std::get<1>(gates.sort(-1, /*descending=*/true));
    return {ids.gather(1, slot), gates.gather(1, slot), natural.router_probs, natural.logits};
  }

 private:
  double factor_;
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_capacity(const StrategySpec& spec) { return std::make_unique<Capacity>(spec); }

}  // namespace moesim::model::strategies
