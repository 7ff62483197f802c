#pragma once
// Assignment strategies: rules that replace a MoE router's top-k choice inside the forward pass
// (balanced, round_robin, random, filtered, temperature, load_temperature, capacity, expert_choice,
// base, bias, and topk = the model's own routing). LibTorch-free: parsing, the list of names, and the counters a
// strategy keeps; the tensor code lives in model/src/strategies/, one file per strategy.
//
//   auto spec = moesim::model::parse_strategy("balanced:capacity=1.25");   // InputError if bad
//   model->set_routing_strategy(spec);                                     // model.hpp
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace moesim::model {

// "name" or "name:key=value,key=value". Every key the strategy knows has a default; `text` is the
// canonical form with every parameter spelled out (what the trace's routing_strategy records).
struct StrategySpec {
  std::string name = "topk";
  std::map<std::string, std::string> params;
  std::string text = "topk";
  double number(const std::string& key) const;  // params.at(key) as a double (validated by parse)
};

// Throws InputError ("--strategy balanced:capacity=x: capacity must be a number ≥ 1") naming the
// spec; `where` prefixes the message (a flag, or file:line:col for sweep files).
StrategySpec parse_strategy(const std::string& text, const std::string& where = "--strategy");
// A sweep file: one strategy per line, blank lines and # comments ignored; errors name file:line:col.
std::vector<StrategySpec> read_strategy_file(const std::filesystem::path& file);

struct StrategyInfo {
  std::string name, description, parameters;  // parameters: "capacity=1.25" (defaults shown)
};
const std::vector<StrategyInfo>& list_strategies();

// What a strategy did to one MoE layer, summed over forward passes.
struct StrategyLayerStats {
  std::uint64_t tokens = 0;
  std::uint64_t pairs_natural = 0;   // tokens × k the router would have sent
  std::uint64_t pairs_kept = 0;      // (token, expert) pairs actually computed
  std::uint64_t dropped_pairs = 0;   // slots left empty (over capacity, or no expert chose the token)
  std::uint64_t dropped_tokens = 0;  // tokens with no expert at all (residual only)
  std::uint64_t rerouted_pairs = 0;  // kept pairs whose expert is not among the router's own top-k
  std::vector<std::uint64_t> expert_load;  // (E) pairs per expert
};

}  // namespace moesim::model
