// `moesim train` (a new model from a config.json) and `moesim finetune` (from a model directory):
// both resolve their data and hand one TrainOptions to the trainer (train.cpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"
#include "train.hpp"
#include "train_data.hpp"

namespace moesim::model {

namespace {

struct TrainCommand {
  TrainOptions train;
  std::string config, model, train_data = "wikitext2:train", valid_data = "wikitext2:valid", data_dir, write_ids;
  double init_std = 0.02;
  bool json = false;
};

void add_shared_options(CLI::App* cmd, TrainCommand& c) {
  TrainOptions& o = c.train;
  cmd->add_option("-o,--out", o.out_dir, "Output directory: history.jsonl, checkpoint-*/, latest, model/")->required();
  cmd->add_option("--train-data", c.train_data, "wikitext2:train|valid|test, c4, text:FILE or ids:FILE (int32)")
      ->capture_default_str();
  cmd->add_option("--valid-data", c.valid_data, "Evaluation data, same forms")->capture_default_str();
  cmd->add_option("--data-dir", c.data_dir, "Directory laid out like ../shared/data (default: $MOESIM_DATA_DIR or ../shared/data)");
  cmd->add_option("--tokenizer", o.tokenizer, "tokenizer.model / tokenizer.json for text data; copied beside saved models");
  cmd->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("!--no-bf16", o.bf16_autocast, "On CUDA, run matmuls in float32 instead of bf16 autocast");
  cmd->add_option("--seq", o.seq_len, "Tokens per training sequence")->check(cli::positive<decltype(o.seq_len)>())->capture_default_str();
  cmd->add_option("--batch", o.batch_size, "Sequences per micro-batch")->check(cli::positive<decltype(o.batch_size)>())->capture_default_str();
  cmd->add_option("--grad-accum", o.grad_accum, "Micro-batches per optimizer step")->check(cli::positive<decltype(o.grad_accum)>())->capture_default_str();
  cmd->add_option("--steps", o.steps, "Optimizer steps")->check(cli::non_negative<decltype(o.steps)>())->capture_default_str();
  cmd->add_option("--warmup", o.warmup_steps, "Linear warmup steps (then cosine decay)")->check(cli::non_negative<decltype(o.warmup_steps)>())->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate")->check(cli::positive<decltype(o.lr)>())->capture_default_str();
  cmd->add_option("--min-lr-ratio", o.min_lr_ratio, "Final learning rate as a fraction of --lr")->check(cli::non_negative<decltype(o.min_lr_ratio)>())->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "AdamW weight decay (matrices only)")->check(cli::non_negative<decltype(o.weight_decay)>())->capture_default_str();
  cmd->add_option("--clip", o.clip_grad_norm, "Clip the gradient's global norm to this (0: off)")->check(cli::non_negative<decltype(o.clip_grad_norm)>())->capture_default_str();
  cmd->add_option("--balance", o.balance, "Balance terms with weights: gini, variance, cv, entropy, switch, z; e.g. gini=0.01,z=0.001")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of initialisation and data order")->check(cli::non_negative<decltype(o.seed)>())->capture_default_str();
  cmd->add_option("--log-every", o.log_every, "Steps per history line")->check(cli::positive<decltype(o.log_every)>())->capture_default_str();
  cmd->add_option("--eval-every", o.eval_every, "Steps between evaluations (0: first and last only)")->check(cli::non_negative<decltype(o.eval_every)>())->capture_default_str();
  cmd->add_option("--eval-tokens", o.eval_tokens, "Validation tokens per evaluation (0: all)")->check(cli::non_negative<decltype(o.eval_tokens)>())->capture_default_str();
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints (0: last only)")->check(cli::non_negative<decltype(o.checkpoint_every)>())->capture_default_str();
  cmd->add_option("--keep", o.keep_checkpoints, "Checkpoints kept, newest first (OUT/best holds the best by validation perplexity)")
      ->check(cli::positive<decltype(o.keep_checkpoints)>())
      ->capture_default_str();
  cmd->add_option("--stop-after", o.stop_after, "Stop after this step, checkpoint included (then --resume)")->check(cli::non_negative<decltype(o.stop_after)>());
  cmd->add_option("--save-dtype", o.save_dtype, "dtype of OUT/model weights: float32 or bfloat16")
      ->check(CLI::IsMember({"float32", "bfloat16"}))->capture_default_str();
  cmd->add_flag("--resume", o.resume, "Continue exactly from OUT/latest");
  cmd->add_option("--write-ids", c.write_ids, "Also write the token ids of both data sets to DIR/{train,valid}.ids (with --steps 0: only that)");
  cli::add_quiet_flag(cmd, o.quiet);
  cli::add_json_flag(cmd, c.json);
}

nlohmann::json eval_json(const EvalResult& r) { return eval_fields(r); }

int run(TrainCommand& c) {
  TrainOptions& o = c.train;
  if (o.log_every < 1) throw InputError("--log-every must be at least 1");
  if (o.steps == 0 && c.write_ids.empty()) throw InputError("--steps must be at least 1 (0 only with --write-ids)");
  const std::filesystem::path data_dir = c.data_dir.empty() ? default_data_dir() : std::filesystem::path(c.data_dir);
  if (!c.config.empty()) {  // train: the step-0 model is a seeded random init of the config
    cli::require_file(c.config);
    o.init_dir = o.out_dir / "init";
    if (!o.resume) write_initial_model(c.config, o.init_dir, o.seed, c.init_std);
  } else {
    o.init_dir = c.model;
  }
  std::unique_ptr<Tokenizer> tokenizer;
  const bool text = c.train_data.rfind("ids:", 0) != 0 || c.valid_data.rfind("ids:", 0) != 0;
  if (text) tokenizer = load_tokenizer(!o.tokenizer.empty() ? o.tokenizer : o.init_dir);
  o.train_tokens = load_token_stream(c.train_data, tokenizer.get(), data_dir);
  o.valid_tokens = load_token_stream(c.valid_data, tokenizer.get(), data_dir);
  if (!c.write_ids.empty()) {
    std::filesystem::create_directories(c.write_ids);
    write_token_ids(std::filesystem::path(c.write_ids) / "train.ids", o.train_tokens);
    write_token_ids(std::filesystem::path(c.write_ids) / "valid.ids", o.valid_tokens);
  }
  if (!c.write_ids.empty() && o.steps == 0) {  // tokenize only: ids for another machine (moesim-gpu)
    fmt::print("wrote {} training and {} validation token ids to {}\n", o.train_tokens.size(), o.valid_tokens.size(), c.write_ids);
    return kExitOk;
  }
  if (!o.quiet)
    fmt::print(stderr, "data: {} training tokens ({}), {} validation tokens ({})\n", o.train_tokens.size(), c.train_data,
               o.valid_tokens.size(), c.valid_data);
  TrainSummary s = train_model(o);
  nlohmann::json result = {{"out", o.out_dir.string()},
                           {"first_step", s.first_step},
                           {"last_step", s.last_step},
                           {"final_loss", s.final_loss},
                           {"after", eval_json(s.after)},
                           {"train_s", s.train_s},
                           {"tokens_per_s", s.tokens_per_s},
                           {"model", s.model_dir.string()}};
  if (s.first_step == 0) result["before"] = eval_json(s.before);
  if (c.json) {
    cli::print_json(result);
  } else {
    fmt::print("steps {}..{} in {:.1f} s ({:.3g} tokens/s), last loss {:.4f}\n", s.first_step, s.last_step, s.train_s,
               s.tokens_per_s, s.final_loss);
    if (s.first_step == 0) fmt::print("before: valid ppl {:.2f}, Gini per layer {:.3f}\n", s.before.ppl, fmt::join(s.before.gini, " "));
    if (s.last_step == o.steps)
      fmt::print("after:  valid ppl {:.2f}, Gini per layer {:.3f}\nmodel: {}\n", s.after.ppl, fmt::join(s.after.gini, " "),
                 s.model_dir.string());
  }
  return kExitOk;
}

}  // namespace

void register_train_commands(cli::Commands& commands, CLI::App& app) {
  auto t = std::make_shared<TrainCommand>();
  CLI::App* train = commands.add(
      app, "train", "Train a MoE language model from scratch (AdamW, warmup + cosine, checkpoints, --resume)",
      "moesim train --config model/default/config.json --tokenizer model/default/tokenizer.model --out runs/default "
      "--steps 2000 --batch 32 --seq 256 --device cuda",
      [t] { return run(*t); });
  train->add_option("--config", t->config, "config.json of the architecture (Mixtral family)")->required();
  train->add_option("--init-std", t->init_std, "Standard deviation of the initial weights")->check(cli::positive<decltype(t->init_std)>())->capture_default_str();
  add_shared_options(train, *t);

  auto f = std::make_shared<TrainCommand>();
  f->train.lr = 1e-4;
  f->train.steps = 200;
  f->train.warmup_steps = 20;
  CLI::App* finetune = commands.add(
      app, "finetune", "Fine-tune a model directory, e.g. with a balance loss (same trainer as `moesim train`)",
      "moesim finetune --model model/default --balance gini=0.1 --steps 200 --out runs/gini-0.1",
      [f] { return run(*f); });
  finetune->add_option("-m,--model", f->model, "Model directory (config.json + safetensors [+ tokenizer])")->required();
  add_shared_options(finetune, *f);
}

}  // namespace moesim::model
