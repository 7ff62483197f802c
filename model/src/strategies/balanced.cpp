// balanced: load-aware greedy with a capacity. Tokens, in batch order, take their best-ranked
// experts that still have room; each expert holds at most ceil(capacity · T·k / E) tokens, so no
// expert ever exceeds it. A token whose remaining choices are all full gets an empty slot (counted
// as dropped). The greedy is a loop over tokens by nature: it runs on a CPU copy of the ranking,
// outside autograd; each token scans its ranking until it has k experts, O(T·k) when capacity is
// loose and O(T·E) at worst, after an O(T·E log E) vectorised argsort.
#include <cmath>

#include "strategy.hpp"

namespace moesim::model::strategies {

std::vector<std::int64_t> greedy_with_capacity(const std::vector<std::int64_t>& ranking, std::int64_t T,
                                               std::int64_t E, int k, std::int64_t capacity) {
  std::vector<std::int64_t> room(E, capacity), ids(T * k, -1);
  for (std::int64_t t = 0; t < T; ++t) {
    int taken = 0;
    for (std::int64_t r = 0; r < E && taken < k; ++r) {
      const std::int64_t e = ranking[t * E + r];
      if (room[e] == 0) continue;
      --room[e];
      ids[t * k + taken++] = e;
    }
  }
  return ids;
}

namespace {

class Balanced final : public RoutingStrategy {
 public:
  explicit Balanced(const StrategySpec& spec) : RoutingStrategy(spec), capacity_(spec.number("capacity")) {}

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const int64_t T = view.scores.size(0), E = view.scores.size(1);
    const auto capacity = static_cast<int64_t>(std::ceil(capacity_ * static_cast<double>(T * view.k) / E - 1e-9));
    at::Tensor select = view.selection_bias.defined() ? view.scores + view.selection_bias : view.scores;  // (T, E)
    at::Tensor ranking = select.argsort(-1, /*descending=*/true).to(at::kCPU).contiguous();              // (T, E)
    const int64_t* r = ranking.data_ptr<int64_t>();
    std::vector<int64_t> ids = greedy_with_capacity({r, r + T * E}, T, E, view.k, capacity);
    at::Tensor chosen = at::tensor(ids, at::kLong).view({T, view.k}).to(view.scores.device());           // (T, k)
    return gates_for(view, chosen);
  }

 private:
  double capacity_;
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_balanced(const StrategySpec& spec) { return std::make_unique<Balanced>(spec); }

}  // namespace moesim::model::strategies
