// temperature: the router's scores at temperature t. Softmax routers: softmax(logits / t), computed
// from the probabilities as softmax(log p / t) (the same thing: log p = logits − logsumexp). Sigmoid
// routers: sigmoid(logit(p) / t). Deterministic top-k keeps a softmax router's choice (t is
// monotone) and changes only the gates; sample=1 draws k experts without replacement from the
// tempered distribution (Gumbel top-k, seeded), which is where t moves load.
#include <ATen/CPUGeneratorImpl.h>

#include "strategy.hpp"

namespace moesim::model::strategies {
namespace {

class Temperature final : public RoutingStrategy {
 public:
  explicit Temperature(const StrategySpec& spec)
      : RoutingStrategy(spec),
        t_(spec.number("t")),
        sample_(spec.params.at("sample") == "1"),
        generator_(at::detail::createCPUGenerator(std::stoull(spec.params.at("seed")))) {}

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const int64_t T = view.scores.size(0), E = view.scores.size(1);
    at::Tensor p = view.scores.clamp(1e-30, 1.0);                                // (T, E)
    RouterView tempered = view;
    tempered.scores = view.sigmoid ? at::sigmoid((p.log() - (1 - p).clamp_min(1e-30).log()) / t_)
                                   : at::softmax(p.log() / t_, -1);              // (T, E)
    at::Tensor select = view.selection_bias.defined() ? tempered.scores + view.selection_bias : tempered.scores;
    if (sample_) {
      at::Tensor u = at::rand({T, E}, generator_, at::kFloat).clamp(1e-12, 1 - 1e-7).to(view.scores.device());
      select = tempered.scores.clamp_min(1e-30).log() - (-u.log()).log();        // log p_t + Gumbel noise
    }
    at::Tensor ids = std::get<1>(select.topk(view.k, -1));                       // (T, k)
    return gates_for(tempered, ids);
  }

 private:
  double t_;
  bool sample_;
  at::Generator generator_;
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_temperature(const StrategySpec& spec) { return std::make_unique<Temperature>(spec); }

}  // namespace moesim::model::strategies
