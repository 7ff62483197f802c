// bias: DeepSeek-V3's auxiliary-loss-free balancing (Wang et al. 2024), applied online at inference.
// Each MoE layer keeps a bias b (E), added to the router scores for selection only (gates use the
// unbiased scores); after each batch b_e += rate · sign(mean load − load_e), so overloaded experts
// become less attractive. The first batch routes as the model does. On DeepSeek models b adds to the
// checkpoint's own e_score_correction_bias; expert-group limiting is not applied.
#include <map>

#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class Bias final : public RoutingStrategy {
 public:
  explicit Bias(const StrategySpec& spec) : RoutingStrategy(spec), rate_(spec.number("rate")) {}

 protected:
  layers::Routing route(const RouterView& view, int moe_index) override {
    const int64_t T = view.scores.size(0), E = view.scores.size(1);
    at::Tensor& b = bias_[moe_index];
    if (!b.defined()) b = at::zeros({E}, view.scores.options());
    at::Tensor select = view.scores + b;                                         // (T, E)
    if (view.selection_bias.defined()) select = select + view.selection_bias;
    at::Tensor ids = std::get<1>(select.topk(view.k, -1));                       // (T, k)
    at::Tensor load = ids.reshape({-1}).bincount({}, E).to(at::kFloat);          // (E)
    b = b + rate_ * (static_cast<double>(T * view.k) / E - load).sign();         // online update
    return gates_for(view, ids);
  }

 private:
  double rate_;
  std::map<int, at::Tensor> bias_;  // per MoE layer
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_bias(const StrategySpec& spec) { return std::make_unique<Bias>(spec); }

}  // namespace moesim::model::strategies
