// filtered: only an allowed subset of experts may be chosen (e.g. the experts of the GPUs that are
// up, or drop-least=N: all but the N experts the router itself used least over the last `window`
// batches — the "top-K filtered" experts by measured usage). Softmax routers are renormalised over the
// allowed experts (probabilities restricted to the subset and divided by their sum); sigmoid scores
// are independent and are only masked.
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <numeric>

#include "moesim/common/error.hpp"
#include "strategy.hpp"

namespace moesim::model::strategies {

std::vector<bool> drop_least_used(const std::vector<std::uint64_t>& usage, std::vector<bool> allowed, int count) {
  std::vector<std::size_t> order;
  for (std::size_t e = 0; e < allowed.size(); ++e)
    if (allowed[e]) order.push_back(e);
  // Stable: among equal usage the lower id comes first and is dropped first.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return usage[a] < usage[b]; });
  for (int i = 0; i < count && i < static_cast<int>(order.size()); ++i) allowed[order[i]] = false;
  return allowed;
}

namespace {

class Filtered final : public RoutingStrategy {
 public:
  explicit Filtered(const StrategySpec& spec)
      : RoutingStrategy(spec),
        allowed_(parse_expert_list(spec.params.at("allow"))),
        drop_least_(std::stoi(spec.params.at("drop-least"))),
        window_(std::stoul(spec.params.at("window"))) {}

  void check(int num_experts, int k) const override {
    if (!allowed_.empty() && allowed_.back() >= num_experts)
      throw InputError(fmt::format("--strategy {}: expert {} does not exist (the model has {})", spec().text,
                                   allowed_.back(), num_experts));
    const int listed = allowed_.empty() ? num_experts : static_cast<int>(allowed_.size());
    if (listed - drop_least_ < k)
      throw InputError(fmt::format("--strategy {}: {} allowed experts cannot fill the model's top-{}", spec().text,
                                   std::max(listed - drop_least_, 0), k));
  }

 protected:
  layers::Routing route(const RouterView& view, int moe_index) override {
    const int64_t E = view.scores.size(1);
    std::vector<bool> allowed(E, allowed_.empty());
    for (std::int64_t e : allowed_) allowed[e] = true;
    if (drop_least_ > 0) allowed = drop_least_used(usage(view, moe_index), allowed, drop_least_);
    std::vector<std::int64_t> ids_allowed;
    for (int64_t e = 0; e < E; ++e)
      if (allowed[e]) ids_allowed.push_back(e);
    at::Tensor allow = at::zeros({E}, view.scores.options().dtype(at::kBool))
                           .index_fill_(0, at::tensor(ids_allowed, at::kLong).to(view.scores.device()), true);  // (E)
    RouterView restricted = view;
    restricted.scores = view.scores * allow;                                     // (T, E) zero outside the subset
    if (!view.sigmoid) restricted.scores = restricted.scores / restricted.scores.sum(-1, /*keepdim=*/true);
    at::Tensor select = view.selection_bias.defined() ? restricted.scores + view.selection_bias : restricted.scores;
    select = select.masked_fill(allow.logical_not(), -std::numeric_limits<float>::infinity());
    at::Tensor ids = std::get<1>(select.topk(view.k, -1));                       // (T, k) never outside the subset
    return gates_for(restricted, ids);
  }

 private:
  // The router's own pair counts per expert over this layer's last `window` batches, this one included
  // (its routing is known before the experts run).
  std::vector<std::uint64_t> usage(const RouterView& view, int moe_index) {
    const int64_t E = view.scores.size(1);
    at::Tensor load = view.natural->expert_ids.reshape({-1}).bincount({}, E).to(at::kCPU, at::kLong).contiguous();  // (E)
    std::deque<std::vector<std::uint64_t>>& past = history_[moe_index];
    past.emplace_back(load.data_ptr<int64_t>(), load.data_ptr<int64_t>() + E);
    if (past.size() > window_) past.pop_front();
    std::vector<std::uint64_t> sum(E, 0);
    for (const auto& batch : past)
      for (int64_t e = 0; e < E; ++e) sum[e] += batch[e];
    return sum;
  }

  std::vector<std::int64_t> allowed_;  // empty = every expert
  int drop_least_;
  std::size_t window_;
  std::map<int, std::deque<std::vector<std::uint64_t>>> history_;  // per MoE layer, the last `window` loads
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_filtered(const StrategySpec& spec) { return std::make_unique<Filtered>(spec); }

}  // namespace moesim::model::strategies
