// `moesim eval-ppl`: perplexity of a model on WikiText-2 (sliding window, the HF recipe), C4 (documents
// concatenated, same windows) or LAMBADA (last-word accuracy and perplexity). Arithmetic in perplexity.cpp.
#include <fmt/format.h>

#include <memory>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/model.hpp"
#include "moesim/model/tokenizer.hpp"
#include "perplexity.hpp"
#include "train_data.hpp"
#include "train_model.hpp"

namespace moesim::model {

namespace {

struct EvalOptions {
  std::string model, tokenizer, dataset = "wikitext2:test", data_dir, device = "cpu", dtype = "float32", mxfp4 = "dequantize", out;
  int seq = 1024, stride = 512, batch = 4;
  std::size_t max_docs = 0, max_examples = 0, max_tokens = 0;
  bool json = false, quiet = false;
};

// "FILE: ..." for text:FILE and ids:FILE, else the data set's name.
std::string no_scored_tokens(const std::string& dataset, std::size_t stream_tokens) {
  std::string where = dataset;
  for (const char* prefix : {"text:", "ids:"})
    if (dataset.starts_with(prefix)) where = dataset.substr(std::string(prefix).size());
  return fmt::format("{}: no token to score ({} tokens in the stream; perplexity needs at least 2: one to predict "
                     "from and one to predict)",
                     where, stream_tokens);
}

int run_eval(const EvalOptions& o) {
  const std::filesystem::path data_dir = o.data_dir.empty() ? default_data_dir() : std::filesystem::path(o.data_dir);
  LoadedNetwork net = load_network(o.model, o.device, o.dtype, /*trainable=*/false, o.mxfp4);
  std::unique_ptr<Tokenizer> tokenizer;
  if (o.dataset.rfind("ids:", 0) != 0) tokenizer = load_tokenizer(o.tokenizer.empty() ? o.model : o.tokenizer);
  at::NoGradGuard no_grad;
  LogitsFn logits_of = [&](const at::Tensor& ids, const at::Tensor& valid) { return net.network->forward(ids, valid, {}, /*want_logits=*/true); };
  nlohmann::json result = {{"model", o.model}, {"dataset", o.dataset}, {"device", o.device}, {"dtype", o.dtype}};
  if (o.dataset == "lambada") {
    const std::vector<LastWordExample> examples = lambada_examples(*tokenizer, data_dir, o.max_examples);
    if (examples.empty()) throw InputError(no_scored_tokens(o.dataset, 0));
    Progress progress("lambada", examples.size(), "examples", !o.quiet);
    std::int64_t shown = 0;
    LastWordScore s = last_word_score(logits_of, examples, o.batch, net.device, [&](std::int64_t done, std::int64_t) {
      progress.advance(static_cast<std::uint64_t>(done - shown));
      shown = done;
    });
    progress.finish();
    result.update({{"examples", s.examples},
                   {"accuracy", s.accuracy()},
                   {"ppl", s.word_ppl()},
                   {"token_ppl", s.token_ppl()},
                   {"target_tokens", s.target_tokens},
                   {"mean_loss", s.examples ? s.nll / static_cast<double>(s.examples) : 0.0}});
    if (!o.json) fmt::print("{} on LAMBADA ({} examples): accuracy {:.4f}, last-word perplexity {:.3f} (per token {:.3f})\n",
                            o.model, s.examples, s.accuracy(), s.word_ppl(), s.token_ppl());
  } else {
    std::vector<std::int32_t> tokens = load_token_stream(o.dataset, tokenizer.get(), data_dir, o.max_docs);
    if (o.max_tokens > 0 && tokens.size() > o.max_tokens) tokens.resize(o.max_tokens);
    std::unique_ptr<Progress> progress;
    std::int64_t shown = 0;
    NllSum s = sliding_window_nll(logits_of, tokens, o.seq, o.stride, o.batch, net.device, [&](std::int64_t done, std::int64_t total) {
      if (!progress) progress = std::make_unique<Progress>("eval-ppl", static_cast<std::uint64_t>(total), "windows", !o.quiet);
      progress->advance(static_cast<std::uint64_t>(done - shown));
      shown = done;
    });
    if (progress) progress->finish();
    // exp(0 / 0 tokens) printed as a perfect perplexity 1.000 before: no token is no score.
    if (s.tokens == 0) throw InputError(no_scored_tokens(o.dataset, tokens.size()));
    result.update({{"ppl", s.ppl()}, {"mean_loss", s.loss()}, {"tokens", s.tokens}, {"stream_tokens", tokens.size()},
                   {"seq", o.seq}, {"stride", o.stride}});
    if (!o.json) fmt::print("{} on {}: perplexity {:.3f} (mean loss {:.4f} over {} tokens; seq {}, stride {})\n", o.model,
                            o.dataset, s.ppl(), s.loss(), s.tokens, o.seq, o.stride);
  }
  if (!o.out.empty()) write_file_atomically(o.out, result.dump(2) + "\n");
  if (o.json) cli::print_json(result);
  return kExitOk;
}

}  // namespace

void register_eval_ppl_command(cli::Commands& commands, CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = commands.add(
      app, "eval-ppl", "Perplexity on WikiText-2 (sliding window), C4 (per document) or LAMBADA (last word)",
      "moesim eval-ppl --model model/default --dataset wikitext2:test --seq 512 --stride 256 --out ppl.json",
      [o] { return run_eval(*o); });
  cmd->add_option("-m,--model", o->model, "Model directory (config.json + safetensors)")->required();
  cmd->add_option("-d,--dataset", o->dataset, "wikitext2:valid|test, c4, lambada, text:FILE or ids:FILE")->capture_default_str();
  cmd->add_option("--tokenizer", o->tokenizer, "Tokenizer file (default: the model directory's)");
  cmd->add_option("--data-dir", o->data_dir, "Directory laid out like ../shared/data");
  cmd->add_option("--seq", o->seq, "Window length in tokens")->check(cli::positive<decltype(o->seq)>())->capture_default_str();
  cmd->add_option("--stride", o->stride, "Window stride (≤ --seq; the HF recipe uses seq/2)")->check(cli::positive<decltype(o->stride)>())->capture_default_str();
  cmd->add_option("--batch", o->batch, "Windows (or LAMBADA examples) per forward pass")->check(cli::positive<decltype(o->batch)>())->capture_default_str();
  cmd->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "float32, bfloat16 or float16")->capture_default_str();
  cmd->add_option("--mxfp4", o->mxfp4, kMxfp4OptionHelp)->capture_default_str();
  cmd->add_option("--max-docs", o->max_docs, "C4: only the first N documents (0: all)")->check(cli::non_negative<decltype(o->max_docs)>());
  cmd->add_option("--max-examples", o->max_examples, "LAMBADA: only the first N examples (0: all)")->check(cli::non_negative<decltype(o->max_examples)>());
  cmd->add_option("--max-tokens", o->max_tokens, "WikiText-2, C4, text, ids: only the first N tokens of the stream (0: all)")->check(cli::non_negative<decltype(o->max_tokens)>());
  cmd->add_option("--out", o->out, "Also write the JSON result to this file (atomically)");
  cli::add_quiet_flag(cmd, o->quiet);
  cli::add_json_flag(cmd, o->json);
}

}  // namespace moesim::model
