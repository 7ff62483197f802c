// expert_choice (Zhou et al. 2022): experts pick tokens. Each expert takes its top C tokens by router
// score, C = min(T, ceil(capacity · T·k / E)), so every expert gets exactly C; a token may be taken
// by 0 … E experts (0 = dropped, residual only). The result is (T, m) with m the most experts any
// token got, empty slots −1; gates follow the architecture's rule over the experts that took the token.
#include <cmath>
#include <limits>

#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class ExpertChoice final : public RoutingStrategy {
 public:
  explicit ExpertChoice(const StrategySpec& spec) : RoutingStrategy(spec), capacity_(spec.number("capacity")) {}

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const int64_t T = view.scores.size(0), E = view.scores.size(1);
    const int64_t quota =
        std::min<int64_t>(T, static_cast<int64_t>(std::ceil(capacity_ * static_cast<double>(T * view.k) / E - 1e-9)));
    at::Tensor select = view.selection_bias.defined() ? view.scores + view.selection_bias : view.scores;  // (T, E)
    at::Tensor picked = std::get<1>(select.topk(quota, /*dim=*/0));                                         // (C, E) tokens
    at::Tensor chosen = at::zeros({T, E}, select.options().dtype(at::kBool)).scatter_(0, picked, true);     // (T, E)
    const int64_t width = std::max<int64_t>(1, chosen.sum(1).max().item<int64_t>());                       // m
    at::Tensor ranked = select.masked_fill(chosen.logical_not(), -std::numeric_limits<float>::infinity());
    at::Tensor ids = std::get<1>(ranked.topk(width, -1));                                                   // (T, m)
    ids = ids.masked_fill(chosen.gather(1, ids).logical_not(), -1);                                         // (T, m)
    return gates_for(view, ids);
  }

 private:
  double capacity_;
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_expert_choice(const StrategySpec& spec) {
  return std::make_unique<ExpertChoice>(spec);
}

}  // namespace moesim::model::strategies
