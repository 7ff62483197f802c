// round_robin: token t (in batch order) takes experts (t·k + j) mod E for j < k, whatever the router
// says; the router only sets the gates. Every expert's load is ⌊T·k/E⌋ or one more.
#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class RoundRobin final : public RoutingStrategy {
 public:
  using RoutingStrategy::RoutingStrategy;

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const int64_t T = view.scores.size(0), E = view.scores.size(1);
    auto opts = view.scores.options().dtype(at::kLong);
    at::Tensor ids = (at::arange(T, opts).mul(view.k).unsqueeze(1) + at::arange(view.k, opts)).remainder(E);  // (T, k)
    return gates_for(view, ids);
  }
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_round_robin(const StrategySpec& spec) { return std::make_unique<RoundRobin>(spec); }

}  // namespace moesim::model::strategies
