// base (BASE layers, Lewis et al. 2021): a balanced linear assignment. For each of the k slots in
// turn, every token gets one expert it does not already have, every expert takes at most
// ceil(T/E) tokens, and the total router score is maximised. Solved with Bertsekas' forward auction:
// each expert offers `capacity` identical copies; an unassigned token bids for the copy with the
// best value (score − price), raising its price by (best − second best value) + eps and evicting the
// owner. The final assignment is within T·eps of the optimum (eps-complementary slackness); eps is
// reached by eps-scaling (phases at range/8, range/64, …), which keeps the number of bids small.
// The auction is a loop over bids by nature: it runs on CPU copies of the scores, outside autograd;
// a bid costs O(E + log capacity).
#include <cmath>
#include <deque>
#include <limits>
#include <set>

#include "strategy.hpp"

namespace moesim::model::strategies {

// One forward-auction phase at increment eps from the current prices; returns each bidder's expert.
static std::vector<std::int64_t> auction_phase(const std::vector<double>& benefit, std::int64_t bidders,
                                               std::int64_t E, std::int64_t capacity,
                                               const std::vector<std::uint8_t>& excluded, double eps, double range,
                                               std::vector<std::set<std::pair<double, std::int64_t>>>& copies) {
  constexpr double kNone = -std::numeric_limits<double>::infinity();
  std::vector<std::int64_t> owner(E * capacity, -1), assigned(bidders, -1);
  std::deque<std::int64_t> unassigned;
  for (std::int64_t t = 0; t < bidders; ++t) unassigned.push_back(t);
  while (!unassigned.empty()) {
    const std::int64_t t = unassigned.front();
    unassigned.pop_front();
    double best = kNone, second = kNone;
    std::int64_t best_e = -1;
    for (std::int64_t e = 0; e < E; ++e) {
      if (!excluded.empty() && excluded[t * E + e]) continue;
      const double value = benefit[t * E + e] - copies[e].begin()->first;
      if (value > best) second = best, best = value, best_e = e;
      else if (value > second) second = value;
    }
    if (best_e < 0) continue;  // every expert excluded: the slot stays empty
    auto cheapest = copies[best_e].begin();
    if (capacity > 1) second = std::max(second, benefit[t * E + best_e] - std::next(cheapest)->first);
    if (second == kNone) second = best - range;
    const auto [price, copy] = *cheapest;
    copies[best_e].erase(cheapest);
    copies[best_e].insert({price + (best - second) + eps, copy});
    if (owner[copy] >= 0) {
      assigned[owner[copy]] = -1;
      unassigned.push_back(owner[copy]);
    }
    owner[copy] = t;
    assigned[t] = best_e;
  }
  return assigned;
}

std::vector<std::int64_t> auction_assign(const std::vector<double>& benefit, std::int64_t T, std::int64_t E,
                                         std::int64_t capacity, const std::vector<std::uint8_t>& excluded, double eps) {
  // Dummy bidders (benefit 0 everywhere, nothing excluded) take the copies no token needs, so the
  // problem is square and eps-scaling keeps its guarantee: the real tokens' total is within T·eps of
  // the optimum. Phases divide eps by 8, keeping prices, so that popular experts reach their price
  // in few large steps instead of many eps-sized ones.
  const std::int64_t bidders = std::max(T, E * capacity);
  std::vector<double> b(bidders * E, 0.0);
  std::copy(benefit.begin(), benefit.end(), b.begin());
  std::vector<std::uint8_t> x;
  if (!excluded.empty()) {
    x.assign(bidders * E, 0);
    std::copy(excluded.begin(), excluded.end(), x.begin());
  }
  double lo = 0, hi = 0;
  for (double v : benefit) lo = std::min(lo, v), hi = std::max(hi, v);
  const double range = std::max(hi - lo, eps);
  std::vector<std::set<std::pair<double, std::int64_t>>> copies(E);  // (price, copy), cheapest first
  for (std::int64_t e = 0; e < E; ++e)
    for (std::int64_t c = 0; c < capacity; ++c) copies[e].insert({0.0, e * capacity + c});
  std::vector<std::int64_t> assigned;
  for (double phase_eps = std::max(eps, range / 8);; phase_eps = std::max(eps, phase_eps / 8)) {
    assigned = auction_phase(b, bidders, E, capacity, x, phase_eps, range, copies);
    if (phase_eps == eps) break;
  }
  assigned.resize(T);
  return assigned;
}

namespace {

class Base final : public RoutingStrategy {
 public:
  explicit Base(const StrategySpec& spec) : RoutingStrategy(spec), eps_(spec.number("eps")) {}

 protected:
  layers::Routing route(const RouterView& view, int) override {
    const int64_t T = view.scores.size(0), E = view.scores.size(1);
    const int64_t capacity = (T + E - 1) / E;
    at::Tensor select = view.selection_bias.defined() ? view.scores + view.selection_bias : view.scores;  // (T, E)
    at::Tensor b = select.to(at::kCPU, at::kDouble).contiguous();
    std::vector<double> benefit(b.data_ptr<double>(), b.data_ptr<double>() + T * E);
    std::vector<std::uint8_t> excluded(T * E, 0);
    std::vector<int64_t> ids(T * view.k, -1);
    for (int j = 0; j < view.k; ++j) {  // one balanced assignment per slot, excluding earlier picks
      std::vector<int64_t> round = auction_assign(benefit, T, E, capacity, excluded, eps_);
      for (int64_t t = 0; t < T; ++t) {
        ids[t * view.k + j] = round[t];
        if (round[t] >= 0) excluded[t * E + round[t]] = 1;
      }
    }
    return gates_for(view, at::tensor(ids, at::kLong).view({T, view.k}).to(view.scores.device()));
  }

 private:
  double eps_;
};

}  // namespace

std::unique_ptr<RoutingStrategy> make_base(const StrategySpec& spec) { return std::make_unique<Base>(spec); }

}  // namespace moesim::model::strategies
