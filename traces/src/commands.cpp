// moesim trace synth | stats
#include "moesim/traces/commands.hpp"

#include <fmt/format.h>

#include <cmath>
#include <sstream>

#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/traces/synth.hpp"
#include "moesim/traces/trace_stats.hpp"

namespace moesim::traces {
namespace {

double parse_number(const std::string& text, const std::string& what) {
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw InputError(fmt::format("--load: {} '{}' is not a number", what, text));
}

// "uniform" | "zipf:s=1.2" | "dirichlet:alpha=0.3" | "hot:0=0.5,3=0.2" (expert=share of all picks)
void parse_load(const std::string& spec, SynthOptions& o) {
  auto colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  std::string params = colon == std::string::npos ? "" : spec.substr(colon + 1);
  std::vector<std::pair<std::string, std::string>> kv;
  std::stringstream ss(params);
  for (std::string item; std::getline(ss, item, ',');) {
    auto eq = item.find('=');
    if (eq == std::string::npos) throw InputError(fmt::format("--load {}: expected key=value, got '{}'", spec, item));
    kv.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  auto only = [&](const std::string& key) {
    for (auto& [k, v] : kv)
      if (k != key) throw InputError(fmt::format("--load {}: unknown parameter '{}' (expected '{}')", name, k, key));
  };
  if (name == "uniform") {
    if (!kv.empty()) throw InputError("--load uniform takes no parameters");
    o.load = LoadModel::kUniform;
  } else if (name == "zipf") {
    only("s");
    o.load = LoadModel::kZipf;
    for (auto& [k, v] : kv) o.zipf_s = parse_number(v, "s");
  } else if (name == "dirichlet") {
    only("alpha");
    o.load = LoadModel::kDirichlet;
    for (auto& [k, v] : kv) o.dirichlet_alpha = parse_number(v, "alpha");
  } else if (name == "hot") {
    o.load = LoadModel::kHot;
    for (auto& [k, v] : kv) o.hot.emplace_back(static_cast<int>(parse_number(k, "expert")), parse_number(v, "share"));
  } else {
    throw InputError(fmt::format("--load: unknown load model '{}' (uniform, zipf:s=S, dirichlet:alpha=A, hot:E=SHARE,...)", name));
  }
}

std::string ratio(double x) { return std::isfinite(x) ? fmt::format("{:.3f}", x) : "inf"; }

void print_stats_table(const TraceStats& stats, const TraceHeader& h, const std::string& file) {
  fmt::print("trace {}: {} ({}), {} MoE layers, {} experts, top-{}, {} tokens in {} steps, dataset {}, routing {}\n",
             file, h.model, h.architecture, h.num_layers, h.num_experts, h.top_k, h.num_tokens, h.num_steps, h.dataset,
             h.routing_strategy);
  // "moe layer": the trace's index of the MoE layer; "model layer": the decoder layer it sits in.
  fmt::print("{:>9} {:>11} {:>7} {:>7} {:>12} {:>9} {:>8} {:>8} {:>8} {:>15} | {:>9} {:>13}\n", "moe layer",
             "model layer", "gini", "cv", "variance", "max/mean", "maxvio", "max/min", "entropy", "tokens min..max",
             "top1 gini", "top1 max/mean");
  auto row = [](const std::string& a, const std::string& b, const BalanceMetrics& m, const BalanceMetrics& t,
                const std::string& range) {
    fmt::print("{:>9} {:>11} {:>7.4f} {:>7.4f} {:>12.4g} {:>9.3f} {:>8.3f} {:>8} {:>8.4f} {:>15} | {:>9.4f} {:>13.3f}\n", a,
               b, m.gini, m.cv, m.variance, m.max_mean_ratio, m.max_vio, ratio(m.max_min_ratio), m.entropy_norm, range,
               t.gini, t.max_mean_ratio);
  };
  for (const auto& l : stats.layers)
    row(std::to_string(l.layer), std::to_string(l.model_layer), l.all, l.top1,
        fmt::format("{}..{}", l.all.min_load, l.all.max_load));
  row("mean", "", stats.mean_all, stats.mean_top1, "");
  row("max", "", stats.max_all, stats.max_top1, fmt::format("..{}", stats.max_all.max_load));
  fmt::print("verdict: {}\n", stats_verdict(stats).text);
  if (h.has_kept_mask)
    fmt::print("dropped pairs: {} of {} ({:.2f} %; tokens x router k {}); loads above count the {} kept pairs only\n",
               stats.dropped_pairs, stats.router_pairs, 100.0 * stats.drop_rate(), h.natural_top_k(), stats.kept_pairs);
}

}  // namespace

void register_commands(cli::Commands& commands, CLI::App& app) {
  CLI::App* trace = commands.add_group(app, "trace", "Create and inspect routing trace files (format v1)");

  // --- trace synth
  struct SynthArgs {
    SynthOptions o;
    std::string load = "uniform", out;
    std::uint64_t chunk_tokens = WriterOptions{}.chunk_tokens;
    bool json = false, quiet = false;
  };
  auto sa = std::make_shared<SynthArgs>();
  CLI::App* synth = commands.add(
      *trace, "synth", "Write a synthetic routing trace from a load model (seeded, reproducible)",
      "moesim trace synth --layers 4 --experts 64 --top-k 6 --tokens 65536 --steps 8 --load zipf:s=1.2 --out zipf.h5",
      [sa]() {
        try {
          parse_load(sa->load, sa->o);
          Progress progress("synth", sa->o.tokens, "tokens", !sa->quiet);
          WriterOptions w;
          w.chunk_tokens = sa->chunk_tokens;
          write_synthetic_trace(sa->out, sa->o, cli::invocation(), &progress, w);
          progress.finish();
        } catch (const std::invalid_argument& e) {
          throw InputError(e.what());
        }
        if (sa->json)
          cli::print_json({{"out", sa->out}, {"tokens", sa->o.tokens}, {"steps", sa->o.steps}, {"layers", sa->o.layers},
                           {"experts", sa->o.experts}, {"top_k", sa->o.top_k}, {"load", sa->load}, {"seed", sa->o.seed}});
        else
          fmt::print("wrote {} ({} tokens x {} layers, {} experts, top-{}, load {})\n", sa->out, sa->o.tokens,
                     sa->o.layers, sa->o.experts, sa->o.top_k, sa->load);
        return kExitOk;
      });
  synth->add_option("--layers", sa->o.layers, "MoE layers")->check(cli::positive<int>())->capture_default_str();
  synth->add_option("--experts", sa->o.experts, "Routed experts per layer")->check(cli::positive<int>())->capture_default_str();
  synth->add_option("--top-k", sa->o.top_k, "Experts per token")->check(cli::positive<int>())->capture_default_str();
  synth->add_option("--tokens", sa->o.tokens, "Tokens in total")->check(cli::positive<std::uint64_t>())->capture_default_str();
  synth->add_option("--steps", sa->o.steps, "Steps (batches processed together by all GPUs)")->check(cli::positive<std::uint64_t>())->capture_default_str();
  synth->add_option("--seq-len", sa->o.seq_len, "Tokens per sequence")->check(cli::positive<int>())->capture_default_str();
  synth->add_option("--hidden", sa->o.hidden_size, "Hidden size recorded in the header")->check(cli::positive<int>())->capture_default_str();
  synth->add_option("--load", sa->load, "uniform | zipf:s=S | dirichlet:alpha=A | hot:E=SHARE[,E=SHARE...]")
      ->capture_default_str();
  synth->add_option("--layer-variation", sa->o.layer_variation,
                    "0: same hot experts in every layer; 1: each layer permutes which experts are hot")
      ->check(cli::non_negative<double>())
      ->capture_default_str();
  synth->add_option("--groups", sa->o.groups,
                    "Group-limited routing: experts in this many contiguous groups (DeepSeek-V3 n_group; 0 = none)")
      ->check(cli::non_negative<int>())
      ->capture_default_str();
  synth->add_option("--topk-groups", sa->o.topk_groups,
                    "Group-limited routing: groups each token picks (by popularity mass) before its top-k inside them")
      ->check(cli::non_negative<int>())
      ->capture_default_str();
  synth->add_option("--seed", sa->o.seed, "Random seed")->check(cli::non_negative<std::uint64_t>())->capture_default_str();
  synth->add_option("--chunk-tokens", sa->chunk_tokens, "HDF5 chunk length in tokens")->check(cli::positive<std::uint64_t>())->capture_default_str();
  synth->add_option("-o,--out", sa->out, "Output trace file (.h5)")->required();
  cli::add_json_flag(synth, sa->json);
  cli::add_quiet_flag(synth, sa->quiet);

  // --- trace stats
  struct StatsArgs {
    std::string file;
    std::vector<int> layers;
    bool json = false, quiet = false;
  };
  auto st = std::make_shared<StatsArgs>();
  CLI::App* stats = commands.add(
      *trace, "stats", "Per-layer expert load and balance metrics (Gini, CV, max/mean, MaxVio, entropy)",
      "moesim trace stats zipf.h5 --layers 0,3 --json", [st]() {
        cli::require_file(st->file);
        TraceReader reader(st->file);
        const auto& h = reader.header();
        std::uint64_t layers = st->layers.empty() ? h.num_layers : st->layers.size();
        Progress progress("stats", h.num_tokens * layers, "tokens", !st->quiet && !st->json);
        TraceStats s = compute_stats(reader, st->layers, &progress);
        progress.finish();
        if (st->json) {
          auto j = to_json(s, h);
          j["file"] = st->file;
          cli::print_json(j);
        } else {
          print_stats_table(s, h, st->file);
        }
        return kExitOk;
      });
  stats->add_option("file", st->file, "Trace file (.h5)")->required();
  stats->add_option("--layers", st->layers, "Only these layers (file indices)")->check(cli::non_negative<int>())->delimiter(',');
  cli::add_json_flag(stats, st->json);
  cli::add_quiet_flag(stats, st->quiet);
}

}  // namespace moesim::traces
