// moesim assign-eval: for one model, one corpus and a list of assignment strategies, what each
// strategy costs in accuracy (perplexity, LAMBADA) and buys in balance and all-to-all latency.
//
// It lives in cli/ because it orchestrates two libraries that must not know each other: model/
// (LibTorch, never SimGrid) captures each strategy's routing into a trace file, and sim/ (SimGrid,
// never LibTorch) replays that file on the platform. The trace file stays the contract between them:
//   model + strategy → trace_<i>.h5 (routing_strategy attribute) → replay → P50/P99 → table.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "assign_eval.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/model.hpp"
#include "moesim/model/scoring.hpp"
#include "moesim/model/strategy.hpp"
#include "moesim/model/tokenizer.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/sim/summary.hpp"
#include "moesim/traces/balance_metrics.hpp"

namespace moesim::assign_eval {

double StrategyResult::ppl() const { return scored ? std::exp(nll / static_cast<double>(scored)) : 0.0; }

namespace {

// sim/'s default wire format for a trace's tokens: FP8 out, BF16 back (bytes per hidden value).
constexpr double kDispatchBytesPerValue = 1.0;
constexpr double kCombineBytesPerValue = 2.0;

struct Args {
  std::string model, dataset, ids_file, data_dir, tokenizer, strategy_file, platform = "cluster:2:4", out = "assign_eval";
  std::string device = "cpu", dtype = "float32", mxfp4 = "dequantize", algorithm = "direct";
  std::vector<std::string> strategies;
  std::uint64_t tokens = 16384;
  int batch = 8, seq = 256, lambada = 0, ep_gpus = 0, hidden_size = 0;
  double dispatch_bytes = 0, combine_bytes = 0;
  bool json = false, quiet = false;
};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

StrategyResult evaluate(model::MoeModel& m, const model::StrategySpec& spec, const EvalOptions& o,
                        const std::vector<model::LastWordExample>* lambada) {
  StrategyResult res;
  res.strategy = spec.text;
  m.set_routing_strategy(spec);
  model::CaptureOptions c = o.capture;
  c.out = o.trace;
  c.want_logits = true;
  model::NllSum nll;  // scored as eval-ppl scores windows (model/src/perplexity.cpp)
  c.on_step = [&](const auto& sequences, const model::ForwardResult& r, const auto&) { nll += model::next_token_nll(sequences, r); };
  model::capture_trace(m, c, o.progress);
  res.nll = nll.nll;
  res.scored = static_cast<std::uint64_t>(nll.tokens);
  for (const auto& s : m.routing_strategy_stats()) {
    LayerResult l;
    l.metrics = traces::balance_metrics(s.expert_load);
    l.stats = s;
    res.layers.push_back(l);
  }
  if (lambada) {
    const auto score = model::score_last_word(m, *lambada, c.batch);
    res.lambada_accuracy = score.accuracy();
    res.lambada_word_ppl = score.word_ppl();
  }
  // Replay the trace just written: sim/ reads only the file.
  sim::TraceReplayOptions to;
  to.ep_gpus = o.ep_gpus;
  to.dispatch_bytes_per_token = o.dispatch_bytes_per_token;
  to.combine_bytes_per_token = o.combine_bytes_per_token;
  sim::ReplayOptions ro;
  ro.algorithm = &sim::find_algorithm(o.algorithm);
  sim::ReplayResult rr = sim::replay_trace(o.trace, topologies::parse_platform_source(o.platform), to, ro);
  sim::ReplaySummary summary = sim::summarize(rr);
  for (const auto& p : summary.phases)
    if (p.phase == "all") res.a2a_p50_s = p.time_s.p50, res.a2a_p99_s = p.time_s.p99;
  return res;
}

template <typename F>
double layer_mean(const StrategyResult& r, F f) {
  std::vector<double> v;
  for (const auto& l : r.layers) v.push_back(f(l));
  return mean_of(v);
}

nlohmann::json to_json(const StrategyResult& r, double baseline_ppl) {
  nlohmann::json layers = nlohmann::json::array();
  std::uint64_t natural = 0, dropped = 0, rerouted = 0, dropped_tokens = 0, tokens = 0;
  for (const auto& l : r.layers) {
    layers.push_back({{"gini", l.metrics.gini}, {"max_mean", l.metrics.max_mean_ratio}, {"max_vio", l.metrics.max_vio},
                      {"pairs_natural", l.stats.pairs_natural}, {"pairs_kept", l.stats.pairs_kept},
                      {"dropped_pairs", l.stats.dropped_pairs}, {"dropped_tokens", l.stats.dropped_tokens},
                      {"rerouted_pairs", l.stats.rerouted_pairs}, {"expert_load", l.stats.expert_load}});
    natural += l.stats.pairs_natural, dropped += l.stats.dropped_pairs, rerouted += l.stats.rerouted_pairs;
    dropped_tokens += l.stats.dropped_tokens, tokens += l.stats.tokens;
  }
  auto pct = [](std::uint64_t a, std::uint64_t b) { return b ? 100.0 * static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  nlohmann::json j = {{"strategy", r.strategy}, {"ppl", r.ppl()}, {"tokens_scored", r.scored},
                      {"ppl_change_pct", baseline_ppl > 0 ? 100.0 * (r.ppl() / baseline_ppl - 1) : 0.0},
                      {"gini", layer_mean(r, [](const LayerResult& l) { return l.metrics.gini; })},
                      {"max_mean", layer_mean(r, [](const LayerResult& l) { return l.metrics.max_mean_ratio; })},
                      {"max_vio", layer_mean(r, [](const LayerResult& l) { return l.metrics.max_vio; })},
                      {"dropped_pairs_pct", pct(dropped, natural)}, {"dropped_tokens_pct", pct(dropped_tokens, tokens)},
                      {"rerouted_pairs_pct", pct(rerouted, natural)},
                      {"a2a_p50_s", r.a2a_p50_s}, {"a2a_p99_s", r.a2a_p99_s}, {"layers", layers}};
  if (r.lambada_accuracy >= 0) j["lambada_accuracy"] = r.lambada_accuracy;
  if (r.lambada_word_ppl >= 0) j["lambada_word_ppl"] = r.lambada_word_ppl;
  return j;
}

int run(const Args& a) {
  std::vector<model::StrategySpec> specs;
  for (const auto& s : a.strategies) specs.push_back(model::parse_strategy(s));
  if (!a.strategy_file.empty()) {
    cli::require_file(a.strategy_file);
    for (auto& s : model::read_strategy_file(a.strategy_file)) specs.push_back(s);
  }
  if (specs.empty()) throw InputError("give at least one --strategy or a --strategies file");
  if (a.ids_file.empty() == a.dataset.empty()) throw InputError("give exactly one of --dataset and --ids-file");
  topologies::parse_platform_source(a.platform);  // a bad platform fails before the model loads
  EvalOptions o;
  o.platform = a.platform;
  o.algorithm = a.algorithm;
  o.ep_gpus = a.ep_gpus;
  model::CaptureOptions& c = o.capture;
  c.model_dir = a.model;
  const model::ModelConfig config = model::load_config(a.model);
  // Bytes each token's hidden state takes on the wire. sim/'s convention for a trace: hidden × 1
  // byte out (FP8 dispatch), hidden × 2 back (BF16 combine); --hidden-size replays a small model's
  // routing at a real model's width, --dispatch-bytes / --combine-bytes set the bytes outright.
  o.hidden_size = a.hidden_size > 0 ? a.hidden_size : config.hidden_size;
  o.dispatch_bytes_per_token = a.dispatch_bytes > 0 ? a.dispatch_bytes : o.hidden_size * kDispatchBytesPerValue;
  o.combine_bytes_per_token = a.combine_bytes > 0 ? a.combine_bytes : o.hidden_size * kCombineBytesPerValue;
  const std::filesystem::path data_dir = a.data_dir.empty() ? model::default_data_dir() : std::filesystem::path(a.data_dir);
  std::unique_ptr<model::Tokenizer> tokenizer;
  if (!a.dataset.empty() || a.lambada > 0) tokenizer = model::load_tokenizer(a.tokenizer.empty() ? a.model : a.tokenizer);
  if (!a.ids_file.empty()) {
    cli::require_file(a.ids_file);
    c.token_ids = model::read_token_ids(a.ids_file);
    c.dataset = "ids:" + a.ids_file;
    c.tokenizer = "none (pre-tokenized ids)";
  } else {
    c.token_ids = model::dataset_token_ids(a.dataset, data_dir, *tokenizer, a.tokens);
    c.dataset = a.dataset;
    c.tokenizer = tokenizer->path().string();
  }
  for (auto id : c.token_ids)
    if (id >= config.vocab_size) throw InputError(fmt::format("token id {} is outside the model's vocabulary of {}", id, config.vocab_size));
  c.max_tokens = a.tokens;
  c.batch = a.batch;
  c.seq_len = a.seq;
  c.load = {a.device, a.dtype, a.mxfp4};
  c.created_by = cli::invocation();
  std::vector<model::LastWordExample> lambada;  // the examples eval-ppl scores (none skipped)
  if (a.lambada > 0) lambada = model::lambada_examples(*tokenizer, data_dir, static_cast<std::size_t>(a.lambada));
  auto m = model::MoeModel::load(a.model, c.load);
  for (const auto& s : specs) m->set_routing_strategy(s);  // refuse specs that do not fit the model, before any work
  std::filesystem::create_directories(a.out);

  std::vector<StrategyResult> results;
  const std::uint64_t total = std::min<std::uint64_t>(a.tokens ? a.tokens : c.token_ids.size(), c.token_ids.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    o.trace = std::filesystem::path(a.out) / fmt::format("trace_{}.h5", i);
    Progress progress(specs[i].text, total, "tokens", !a.quiet && !a.json);
    o.progress = &progress;
    results.push_back(evaluate(*m, specs[i], o, a.lambada > 0 ? &lambada : nullptr));
    progress.finish();
  }
  const double base = results.front().ppl();
  const std::string width = fmt::format("replayed on {} ({}) at dispatch {:g} B/token, combine {:g} B/token{}", a.platform,
                                        a.algorithm, o.dispatch_bytes_per_token, o.combine_bytes_per_token,
                                        a.dispatch_bytes > 0 || a.combine_bytes > 0
                                            ? ""
                                            : fmt::format(" (hidden size {}: FP8 dispatch, BF16 combine)", o.hidden_size));
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : results) rows.push_back(to_json(r, base));
  nlohmann::json doc = {{"model", a.model}, {"architecture", config.model_type}, {"dataset", c.dataset},
                        {"tokens", total}, {"seq", a.seq}, {"batch", a.batch}, {"platform", a.platform},
                        {"algorithm", a.algorithm}, {"hidden_size", o.hidden_size},
                        {"dispatch_bytes_per_token", o.dispatch_bytes_per_token},
                        {"combine_bytes_per_token", o.combine_bytes_per_token},
                        {"command", cli::invocation()}, {"strategies", rows}};
  std::string csv = "strategy,ppl,ppl_change_pct,lambada_accuracy,lambada_word_ppl,gini,max_mean,max_vio,dropped_pairs_pct,dropped_tokens_pct,rerouted_pairs_pct,a2a_p50_us,a2a_p99_us\n";
  // LAMBADA: the table shows last-word perplexity, which moves with every strategy; accuracy (in the
  // CSV and JSON) is the greedy last word's exact match, 0 for models as small as the default one.
  std::string table = "# " + width + "\n" +
                      "# lmb wppl: LAMBADA last-word perplexity (accuracy in the CSV/JSON: 0 for models this small)\n" +
                      fmt::format("{:<44} {:>10} {:>7} {:>8} {:>6} {:>8} {:>7} {:>7} {:>8} {:>9} {:>9}\n", "strategy", "ppl",
                                  "dppl%", "lmb wppl", "gini", "max/mean", "maxvio", "drop%", "reroute%", "a2a P50us", "a2a P99us");
  for (const auto& j : rows) {
    const std::string acc = j.contains("lambada_accuracy") ? fmt::format("{:.3f}", j["lambada_accuracy"].get<double>()) : "-";
    const std::string wppl = j.contains("lambada_word_ppl") ? fmt::format("{:.3g}", j["lambada_word_ppl"].get<double>()) : "-";
    csv += fmt::format("\"{}\",{:.4f},{:.2f},{},{},{:.4f},{:.3f},{:.3f},{:.2f},{:.2f},{:.2f},{:.3f},{:.3f}\n", j["strategy"].get<std::string>(),
                       j["ppl"].get<double>(), j["ppl_change_pct"].get<double>(), acc == "-" ? "" : acc, wppl == "-" ? "" : wppl, j["gini"].get<double>(),
                       j["max_mean"].get<double>(), j["max_vio"].get<double>(), j["dropped_pairs_pct"].get<double>(),
                       j["dropped_tokens_pct"].get<double>(), j["rerouted_pairs_pct"].get<double>(),
                       j["a2a_p50_s"].get<double>() * 1e6, j["a2a_p99_s"].get<double>() * 1e6);
    table += fmt::format("{:<44} {:>10.3f} {:>+7.2f} {:>8} {:>6.3f} {:>8.3f} {:>7.3f} {:>7.2f} {:>8.2f} {:>9.2f} {:>9.2f}\n",
                         j["strategy"].get<std::string>(), j["ppl"].get<double>(), j["ppl_change_pct"].get<double>(), wppl,
                         j["gini"].get<double>(), j["max_mean"].get<double>(), j["max_vio"].get<double>(),
                         j["dropped_pairs_pct"].get<double>(), j["rerouted_pairs_pct"].get<double>(),
                         j["a2a_p50_s"].get<double>() * 1e6, j["a2a_p99_s"].get<double>() * 1e6);
  }
  write_file_atomically(std::filesystem::path(a.out) / "assign_eval.csv", csv);
  write_file_atomically(std::filesystem::path(a.out) / "assign_eval.json", doc.dump(2) + "\n");
  write_file_atomically(std::filesystem::path(a.out) / "assign_eval.txt", table);
  if (a.json) cli::print_json(doc);
  else fmt::print("{}", table);
  return kExitOk;
}

}  // namespace

void register_command(cli::Commands& commands, CLI::App& app) {
  auto a = std::make_shared<Args>();
  std::string list;
  for (const auto& s : model::list_strategies())
    list += fmt::format("\n  {:<14} {}{}", s.name, s.description, s.parameters.empty() ? "" : " [" + s.parameters + "]");
  CLI::App* cmd = commands.add(
      app, "assign-eval",
      "Perplexity, LAMBADA, expert balance and replayed all-to-all latency of routing strategies (one table)",
      "moesim assign-eval --model tests/fixtures/qwen3_moe --ids-file ids.txt --strategy topk --strategy "
      "balanced:capacity=1.25 --strategy capacity:factor=1.0 --platform cluster:2:4 --out study/",
      [a]() { return run(*a); });
  cmd->footer("Strategies:" + list);
  cmd->add_option("--model", a->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--dataset", a->dataset, "wikitext2[:train|valid|test] | c4 | lambada | text:FILE");
  cmd->add_option("--ids-file", a->ids_file, "Instead of --dataset: token ids separated by spaces, commas or newlines");
  cmd->add_option("--data-dir", a->data_dir, "Directory holding the data sets (default: $MOESIM_DATA_DIR or ../shared/data)");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or SentencePiece .model (default: the model directory's)");
  cmd->add_option("--strategy", a->strategies, "NAME[:key=value,...], repeatable; the first is the perplexity baseline");
  cmd->add_option("--strategies", a->strategy_file, "A sweep file: one strategy per line, # comments");
  cmd->add_option("--tokens", a->tokens, "Tokens of the corpus to evaluate (0 = all)")->check(cli::non_negative<decltype(a->tokens)>())->capture_default_str();
  cmd->add_option("--batch", a->batch, "Sequences per forward pass (the batch strategies balance over)")->check(cli::positive<decltype(a->batch)>())->capture_default_str();
  cmd->add_option("--seq", a->seq, "Tokens per sequence (non-overlapping windows)")->check(cli::positive<decltype(a->seq)>())->capture_default_str();
  cmd->add_option("--lambada", a->lambada, "Also score LAMBADA (last-word perplexity and accuracy) on this many examples (0 = skip)")->check(cli::non_negative<decltype(a->lambada)>())->capture_default_str();
  cmd->add_option("--platform", a->platform, "Replay platform: switch:GPUS, cluster:NODES:GPUS_PER_NODE or a platform file")->capture_default_str();
  cmd->add_option("--algorithm", a->algorithm, "All-to-all algorithm: direct | pairwise | hierarchical")->capture_default_str();
  cmd->add_option("--hidden-size", a->hidden_size,
                  "Replay as if tokens were this wide: dispatch hidden × 1 B (FP8), combine hidden × 2 B (BF16) "
                  "per token (default: the model's hidden_size)")
      ->check(cli::positive<int>());
  cmd->add_option("--dispatch-bytes", a->dispatch_bytes, "Bytes per token of the dispatch all-to-all (overrides --hidden-size)")
      ->check(cli::byte_count());
  cmd->add_option("--combine-bytes", a->combine_bytes, "Bytes per token of the combine all-to-all (overrides --hidden-size)")
      ->check(cli::byte_count());
  cmd->add_option("--ep-gpus", a->ep_gpus, "GPUs the experts are spread over (0 = all of the platform)")->check(cli::non_negative<decltype(a->ep_gpus)>())->capture_default_str();
  cmd->add_option("--device", a->device, "cpu | cuda | cuda:N")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float32 | bfloat16 | float16")->capture_default_str();
  cmd->add_option("--mxfp4", a->mxfp4, model::kMxfp4OptionHelp)->capture_default_str();
  cmd->add_option("-o,--out", a->out, "Directory for traces and assign_eval.{csv,json,txt}")->capture_default_str();
  cli::add_json_flag(cmd, a->json);
  cli::add_quiet_flag(cmd, a->quiet);
}

}  // namespace moesim::assign_eval
