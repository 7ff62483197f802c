// moesim capture: record a model's routing over a token corpus into a trace file (format v1).
#include <fmt/format.h>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"
#include "moesim/model/model.hpp"

namespace moesim::model {
namespace {

struct CaptureArgs {
  std::string model, ids_file, dataset, data_dir, tokenizer, out, device = "cpu", dtype = "float32", mxfp4 = "dequantize",
              strategy = "topk";
  std::uint64_t tokens = 0;
  int batch = 8, seq = 512;
  bool router_probs = false, json = false, quiet = false;
};

int run_capture(const CaptureArgs& a) {
  if (a.ids_file.empty() == a.dataset.empty()) throw InputError("give exactly one of --dataset and --ids-file");
  const StrategySpec strategy = parse_strategy(a.strategy);
  CaptureOptions o;
  o.model_dir = a.model;
  const ModelConfig config = load_config(a.model);  // fail on a bad model before tokenizing a corpus
  if (!a.ids_file.empty()) {
    cli::require_file(a.ids_file);
    o.token_ids = read_token_ids(a.ids_file);
    o.dataset = "ids:" + a.ids_file;
    o.tokenizer = "none (pre-tokenized ids)";
  } else {
    auto tokenizer = load_tokenizer(a.tokenizer.empty() ? a.model : a.tokenizer);
    if (tokenizer->vocab_size() > config.vocab_size)
      throw InputError(fmt::format("{}: tokenizer has {} ids but the model's vocabulary has {} (wrong --tokenizer?)",
                                   tokenizer->path().string(), tokenizer->vocab_size(), config.vocab_size));
    o.token_ids = dataset_token_ids(a.dataset, a.data_dir.empty() ? default_data_dir() : std::filesystem::path(a.data_dir), *tokenizer, a.tokens);
    o.dataset = a.dataset;
    o.tokenizer = tokenizer->path().string();
  }
  o.max_tokens = a.tokens;
  o.batch = a.batch;
  o.seq_len = a.seq;
  o.load = {a.device, a.dtype, a.mxfp4};
  o.router_probs = a.router_probs;
  o.out = a.out;
  o.created_by = cli::invocation();
  auto model = MoeModel::load(a.model, o.load);
  model->set_routing_strategy(strategy);
  std::uint64_t total = a.tokens > 0 ? std::min<std::uint64_t>(a.tokens, o.token_ids.size()) : o.token_ids.size();
  Progress progress("capture", total, "tokens", !a.quiet && !a.json);
  CaptureSummary s = capture_trace(*model, o, &progress);
  progress.finish();
  if (a.json) {
    cli::print_json({{"out", a.out}, {"model", a.model}, {"architecture", model->config().model_type},
                     {"tokens", s.tokens}, {"steps", s.steps}, {"sequences", s.sequences}, {"moe_layers", s.moe_layers},
                     {"seconds", s.seconds}, {"tokens_per_s", s.tokens_per_s()}, {"device", a.device},
                     {"placement", model->placement()}, {"dtype", a.dtype}});
  } else {
    fmt::print("wrote {}: {} tokens ({} sequences, {} steps) x {} MoE layers of {} in {:.2f} s ({:.0f} tokens/s, {} {})\n",
               a.out, s.tokens, s.sequences, s.steps, s.moe_layers, a.model, s.seconds, s.tokens_per_s(), a.device,
               a.dtype);
  }
  return kExitOk;
}

}  // namespace

void register_capture_command(cli::Commands& commands, CLI::App& app) {
  auto a = std::make_shared<CaptureArgs>();
  CLI::App* cmd = commands.add(
      app, "capture", "Record a MoE model's routing (experts and gate weights per token and layer) into a trace",
      "moesim capture --model Mixtral-8x7B-v0.1 --dataset wikitext2 --tokens 65536 --batch 8 --seq 512 --device cuda "
      "--dtype bfloat16 --out trace.h5",
      [a]() { return run_capture(*a); });
  cmd->add_option("--model", a->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--dataset", a->dataset, "wikitext2[:train|valid|test] | c4 | lambada | text:FILE");
  cmd->add_option("--data-dir", a->data_dir, "Directory holding the data sets (default: $MOESIM_DATA_DIR or ../shared/data)");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or SentencePiece .model (default: the model directory's)");
  cmd->add_option("--ids-file", a->ids_file, "Instead of --dataset: token ids separated by spaces, commas or newlines");
  cmd->add_option("--tokens", a->tokens, "Capture at most this many tokens (0 = all)")->check(cli::non_negative<decltype(a->tokens)>())->capture_default_str();
  cmd->add_option("--batch", a->batch, "Sequences per step (one forward pass)")->check(cli::positive<decltype(a->batch)>())->capture_default_str();
  cmd->add_option("--seq", a->seq, "Tokens per sequence")->check(cli::positive<decltype(a->seq)>())->capture_default_str();
  cmd->add_option("--device", a->device, "cpu | cuda | cuda:N | cuda:0,cuda:1,... (layers split over the devices in consecutive blocks) | auto (layers fill each GPU's free memory in order, the rest on the CPU)")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float32 | bfloat16 | float16")->capture_default_str();
  cmd->add_option("--mxfp4", a->mxfp4, kMxfp4OptionHelp)->capture_default_str();
  cmd->add_option("--strategy", a->strategy, "Assignment strategy NAME[:key=value,...] (moesim assign-eval --help lists them)")->capture_default_str();
  cmd->add_flag("--router-probs", a->router_probs, "Also record full router probabilities (tokens x experts)");
  cmd->add_option("-o,--out", a->out, "Output trace file (.h5)")->required();
  cli::add_json_flag(cmd, a->json);
  cli::add_quiet_flag(cmd, a->quiet);
}

}  // namespace moesim::model
