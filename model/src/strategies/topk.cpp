// topk: the architecture's own routing, untouched. The baseline every other strategy is compared with.
#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class TopK final : public RoutingStrategy {
 public:
  using RoutingStrategy::RoutingStrategy;

 protected:
  layers::Routing route(const RouterView& view, int) override { return *view.natural; }
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_topk(const StrategySpec& spec) { return std::make_unique<TopK>(spec); }

}  // namespace moesim::model::strategies
