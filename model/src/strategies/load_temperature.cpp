// load_temperature: "temperature-based load balancing" that moves tokens. Plain `temperature` divides
// every logit by the same t, which keeps each token's order, so a deterministic top-k sends every
// token where it went before. Here each expert's selection logit is penalised by how busy it has
// been recently:
//   select_{t,e} = log p_{t,e} − t · (ℓ_e − 1),   ℓ_e = E · L_e / Σ L   (1 at balance)
// where L is a moving average (weight 1/window per batch) of the router's own per-expert loads, this
// batch included (its routing is known before the experts run). Equivalently the router's
// distribution is reweighted by exp(−t·(ℓ_e − 1)) before its top-k: a busy expert keeps only the
// tokens that prefer it by more than its penalty. t = 0 is the model. Gates keep the model's rule over
// the unpenalised scores (the penalty decides where a token goes, not how much an expert's output
// weighs), as DeepSeek's selection bias does.
#include <map>

#include "strategy.hpp"

namespace moesim::model::strategies {

std::vector<double> load_penalty(const std::vector<double>& recent_load, double t) {
  double total = 0;
  for (double x : recent_load) total += x;
  std::vector<double> penalty(recent_load.size(), 0.0);
  if (total <= 0) return penalty;
  const double E = static_cast<double>(recent_load.size());
  for (std::size_t e = 0; e < recent_load.size(); ++e) penalty[e] = t * (E * recent_load[e] / total - 1.0);
  return penalty;
}

namespace {

class LoadTemperature final : public RoutingStrategy {
 public:
  explicit LoadTemperature(const StrategySpec& spec)
      : RoutingStrategy(spec), t_(spec.number("t")), window_(spec.number("window")) {}

 protected:
  layers::Routing route(const RouterView& view, int moe_index) override {
    const int64_t E = view.scores.size(1);
    at::Tensor load = view.natural->expert_ids.reshape({-1}).bincount({}, E).to(at::kCPU, at::kDouble).contiguous();  // (E)
    std::vector<double>& recent = recent_[moe_index];
    if (recent.empty()) recent.assign(load.data_ptr<double>(), load.data_ptr<double>() + E);  // first batch: itself
    else
      for (int64_t e = 0; e < E; ++e) recent[e] += (load.data_ptr<double>()[e] - recent[e]) / window_;
    at::Tensor penalty = at::tensor(load_penalty(recent, t_), at::kDouble).to(view.scores.device(), at::kFloat);  // (E)
    at::Tensor base = view.selection_bias.defined() ? view.scores + view.selection_bias : view.scores;          // (T, E)
    at::Tensor select = base.clamp_min(1e-30).log() - penalty;                                                  // (T, E)
    at::Tensor ids = std::get<1>(select.topk(view.k, -1));                                                      // (T, k)
    return gates_for(view, ids);
  }

 private:
  double t_, window_;
  std::map<int, std::vector<double>> recent_;  // per MoE layer: moving average of the router's loads (E)
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_load_temperature(const StrategySpec& spec) {
  return std::make_unique<LoadTemperature>(spec);
}

}  // namespace moesim::model::strategies
