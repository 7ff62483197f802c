// random: k distinct experts per token, uniformly (the top-k of T×E uniform draws is a uniform
// k-subset), from a generator seeded once per run so the routing repeats exactly.
#include <ATen/CPUGeneratorImpl.h>

#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class Random final : public RoutingStrategy {
 public:
  explicit Random(const StrategySpec& spec)
      : RoutingStrategy(spec), generator_(at::detail::createCPUGenerator(std::stoull(spec.params.at("seed")))) {}

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const int64_t T = view.scores.size(0), E = view.scores.size(1);
    at::Tensor draws = at::rand({T, E}, generator_, at::kFloat);                         // (T, E) on CPU
    at::Tensor ids = std::get<1>(draws.topk(view.k, -1)).to(view.scores.device());       // (T, k)
    return gates_for(view, ids);
  }

 private:
  at::Generator generator_;
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_random(const StrategySpec& spec) { return std::make_unique<Random>(spec); }

}  // namespace moesim::model::strategies
