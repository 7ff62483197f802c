// moesim capture: record a model's routing over a token corpus into a trace file (format v1).
#include <fmt/format.h>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/model.hpp"

namespace moesim::model {
namespace {

struct CaptureArgs {
  std::string model, ids_file, out, device = "cpu", dtype = "float32";
  std::uint64_t tokens = 0;
  int batch = 8, seq = 512;
  bool router_probs = false, json = false, quiet = false;
};

int run_capture(const CaptureArgs& a) {
  cli::require_file(a.ids_file);
  CaptureOptions o;
  o.model_dir = a.model;
  o.token_ids = read_token_ids(a.ids_file);
  o.dataset = "ids:" + a.ids_file;
  o.tokenizer = "none (pre-tokenized ids)";
  o.max_tokens = a.tokens;
  o.batch = a.batch;
  o.seq_len = a.seq;
  o.load = {a.device, a.dtype};
  o.router_probs = a.router_probs;
  o.out = a.out;
  o.created_by = cli::invocation();
  auto model = MoeModel::load(a.model, o.load);
  std::uint64_t total = a.tokens > 0 ? std::min<std::uint64_t>(a.tokens, o.token_ids.size()) : o.token_ids.size();
  Progress progress("capture", total, "tokens", !a.quiet && !a.json);
  CaptureSummary s = capture_trace(*model, o, &progress);
  progress.finish();
  if (a.json) {
    cli::print_json({{"out", a.out}, {"model", a.model}, {"architecture", model->config().model_type},
                     {"tokens", s.tokens}, {"steps", s.steps}, {"sequences", s.sequences}, {"moe_layers", s.moe_layers},
                     {"seconds", s.seconds}, {"tokens_per_s", s.tokens_per_s()}, {"device", a.device}, {"dtype", a.dtype}});
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
      "moesim capture --model tests/fixtures/mixtral --ids-file ids.txt --batch 4 --seq 64 --out trace.h5",
      [a]() { return run_capture(*a); });
  cmd->add_option("--model", a->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--ids-file", a->ids_file, "Pre-tokenized corpus: token ids separated by spaces, commas or newlines")
      ->required();
  cmd->add_option("--tokens", a->tokens, "Capture at most this many tokens (0 = all)")->capture_default_str();
  cmd->add_option("--batch", a->batch, "Sequences per step (one forward pass)")->capture_default_str();
  cmd->add_option("--seq", a->seq, "Tokens per sequence")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu | cuda | cuda:N | cuda:0,cuda:1,... (layers split over the devices in consecutive blocks)")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float32 | bfloat16 | float16")->capture_default_str();
  cmd->add_flag("--router-probs", a->router_probs, "Also record full router probabilities (tokens x experts)");
  cmd->add_option("-o,--out", a->out, "Output trace file (.h5)")->required();
  cli::add_json_flag(cmd, a->json);
  cli::add_quiet_flag(cmd, a->quiet);
}

}  // namespace moesim::model
