// filtered: only an allowed subset of experts may be chosen (e.g. the experts of the GPUs that are
// up). Softmax routers are renormalised over the allowed experts (probabilities restricted to the
// subset and divided by their sum); sigmoid scores are independent and are only masked.
#include <fmt/format.h>

#include <limits>

#include "moesim/common/error.hpp"
#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class Filtered final : public RoutingStrategy {
 public:
  explicit Filtered(const StrategySpec& spec) : RoutingStrategy(spec), allowed_(parse_expert_list(spec.params.at("allow"))) {}

  void check(int num_experts, int k) const override {
    if (allowed_.back() >= num_experts)
      throw InputError(fmt::format("--strategy {}: expert {} does not exist (the model has {})", spec().text,
                                   allowed_.back(), num_experts));
    if (static_cast<int>(allowed_.size()) < k)
      throw InputError(fmt::format("--strategy {}: {} allowed experts cannot fill the model's top-{}", spec().text,
                                   allowed_.size(), k));
  }

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const int64_t E = view.scores.size(1);
    at::Tensor allow = at::zeros({E}, view.scores.options().dtype(at::kBool))
                           .index_fill_(0, at::tensor(allowed_, at::kLong).to(view.scores.device()), true);  // (E)
    RouterView restricted = view;
    restricted.scores = view.scores * allow;                                     // (T, E) zero outside the subset
    if (!view.sigmoid) restricted.scores = restricted.scores / restricted.scores.sum(-1, /*keepdim=*/true);
    at::Tensor select = view.selection_bias.defined() ? restricted.scores + view.selection_bias : restricted.scores;
    select = select.masked_fill(allow.logical_not(), -std::numeric_limits<float>::infinity());
    at::Tensor ids = std::get<1>(select.topk(view.k, -1));                       // (T, k) never outside the subset
    return gates_for(restricted, ids);
  }

 private:
  std::vector<std::int64_t> allowed_;
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_filtered(const StrategySpec& spec) { return std::make_unique<Filtered>(spec); }

}  // namespace moesim::model::strategies
