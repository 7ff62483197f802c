// The balance losses of balance_losses.hpp. Every formula works on float32 and keeps the graph,
// so that λ × term backpropagates into the router weights.
#include "balance_losses.hpp"

#include <fmt/format.h>

#include <cmath>
#include <sstream>

#include "moesim/common/error.hpp"

namespace moesim::model {

namespace {
const std::vector<std::pair<std::string, BalanceLoss>>& table() {
  static const std::vector<std::pair<std::string, BalanceLoss>> t = {
      {"gini", BalanceLoss::kGini},       {"variance", BalanceLoss::kVariance}, {"cv", BalanceLoss::kCv},
      {"entropy", BalanceLoss::kEntropy}, {"switch", BalanceLoss::kSwitch},     {"z", BalanceLoss::kZ}};
  return t;
}
}  // namespace

const std::vector<std::string>& balance_loss_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, kind] : table()) n.push_back(name);
    return n;
  }();
  return names;
}

std::string balance_loss_name(BalanceLoss kind) {
  for (const auto& [name, k] : table())
    if (k == kind) return name;
  return "?";
}

std::vector<BalanceTerm> parse_balance_terms(const std::string& spec) {
  std::vector<BalanceTerm> terms;
  if (spec.empty() || spec == "none") return terms;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto eq = item.find('=');
    const std::string name = item.substr(0, eq);
    BalanceTerm term;
    bool known = false;
    for (const auto& [n, kind] : table())
      if (n == name) term.kind = kind, known = true;
    if (!known)
      throw InputError(fmt::format("--balance '{}': unknown loss '{}' (expected gini, variance, cv, entropy, switch or z)",
                                   spec, name));
    if (eq == std::string::npos)
      throw InputError(fmt::format("--balance '{}': '{}' needs a weight, e.g. {}=0.01", spec, item, name));
    try {
      std::size_t used = 0;
      term.weight = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || !std::isfinite(term.weight) || term.weight < 0) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw InputError(fmt::format("--balance '{}': weight '{}' of {} is not a number ≥ 0", spec, item.substr(eq + 1), name));
    }
    terms.push_back(term);
  }
  return terms;
}

at::Tensor gini_loss(const at::Tensor& mean_probs) {
  const int64_t E = mean_probs.size(0);
  at::Tensor pairwise = (mean_probs.unsqueeze(0) - mean_probs.unsqueeze(1)).abs();  // (E, E)
  return pairwise.sum() / (2.0 * static_cast<double>(E) * mean_probs.sum());
}

at::Tensor variance_loss(const at::Tensor& mean_probs) {
  return (mean_probs - mean_probs.mean()).pow(2).mean();  // population variance
}

at::Tensor cv_loss(const at::Tensor& mean_probs) {
  // sqrt has an infinite slope at 0: a tiny floor keeps a perfectly balanced layer's gradient finite.
  return (variance_loss(mean_probs) + 1e-12).sqrt() / mean_probs.mean();
}

at::Tensor entropy_loss(const at::Tensor& mean_probs) {
  const double E = static_cast<double>(mean_probs.size(0));
  at::Tensor p = mean_probs / mean_probs.sum();
  at::Tensor entropy = -(p * p.clamp_min(1e-30).log()).sum();  // 0 · ln 0 = 0
  return std::log(E) - entropy;
}

at::Tensor switch_loss(const at::Tensor& probs, const at::Tensor& expert_ids) {
  const int64_t E = probs.size(1);
  at::Tensor counts = expert_ids.reshape({-1}).bincount({}, E).to(probs.scalar_type());  // (E)
  at::Tensor f = counts / static_cast<double>(expert_ids.numel());                       // (E) no gradient
  return static_cast<double>(E) * (f * probs.mean(0)).sum();
}

at::Tensor z_loss(const at::Tensor& logits) {
  return logits.to(at::kFloat).logsumexp(-1).pow(2).mean();
}

at::Tensor balance_loss(BalanceLoss kind, const layers::Routing& routing) {
  switch (kind) {
    case BalanceLoss::kSwitch: return switch_loss(routing.router_probs, routing.expert_ids);
    case BalanceLoss::kZ: return z_loss(routing.logits);
    default: break;
  }
  at::Tensor mean_probs = routing.router_probs.mean(0);  // (E)
  switch (kind) {
    case BalanceLoss::kGini: return gini_loss(mean_probs);
    case BalanceLoss::kVariance: return variance_loss(mean_probs);
    case BalanceLoss::kCv: return cv_loss(mean_probs);
    default: return entropy_loss(mean_probs);
  }
}

}  // namespace moesim::model
