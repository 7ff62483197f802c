#pragma once
// moesim assign-eval (assign_eval.cpp): capture each strategy's routing with model/, replay the
// trace with sim/, tabulate. The only file that sees both libraries, and only through their
// LibTorch-free and SimGrid-free headers.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "moesim/common/cli.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/strategy.hpp"
#include "moesim/traces/balance_metrics.hpp"

namespace moesim::assign_eval {

struct EvalOptions {
  model::CaptureOptions capture;  // corpus, batch, seq (out and on_step are set per strategy)
  std::filesystem::path trace;
  std::string platform, algorithm = "direct";
  int ep_gpus = 0;
  int hidden_size = 0;                   // the width the bytes below were derived from
  double dispatch_bytes_per_token = 0;   // resolved: never 0 (sim's own default is not relied on)
  double combine_bytes_per_token = 0;
  Progress* progress = nullptr;
};

struct LayerResult {
  traces::BalanceMetrics metrics;
  model::StrategyLayerStats stats;
};

struct StrategyResult {
  std::string strategy;
  double nll = 0;
  std::uint64_t scored = 0;
  double lambada_accuracy = -1;  // −1: not measured
  double lambada_word_ppl = -1;  // LAMBADA last-word perplexity (the figure a small model moves); −1: not measured
  std::vector<LayerResult> layers;
  double a2a_p50_s = 0, a2a_p99_s = 0;  // over every dispatch and combine all-to-all replayed
  double ppl() const;
};

void register_command(cli::Commands& commands, CLI::App& app);

}  // namespace moesim::assign_eval
