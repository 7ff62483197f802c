#pragma once
// One trainer for `moesim train` (from scratch) and `moesim finetune` (from a checkpoint).
// LibTorch-free interface: token streams in, a directory of checkpoints, history and model out.
//
// OUT/ after a run:
//   history.jsonl        one JSON object per logged step ({"step", "lr", "loss", "lm_loss", "balance_loss",
//                        "balance_terms": {name: unweighted value}, "grad_norm", "tokens_per_s"}) and per
//                        evaluation ({"step", "eval": {"loss", "ppl", "tokens", and per layer "gini", "cv",
//                        "max_mean", "entropy" (normalised)}})
//   checkpoint-<step>/   model.safetensors (float32, loader layout), config.json, tokenizer, optimizer.safetensors
//                        (AdamW moments), trainer_state.json (step, data position, seed, RNG), written atomically;
//                        the newest --keep of them stay
//   latest               name of the newest complete checkpoint directory
//   best/                the weights of the evaluation with the lowest validation perplexity, and best.json
//   model/               the final model in --save-dtype: loads like any Hugging Face checkpoint
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moesim::model {

struct TrainOptions {
  std::filesystem::path out_dir;
  std::filesystem::path init_dir;   // model directory the weights start from (finetune; or train's step-0 init)
  std::filesystem::path tokenizer;  // copied beside every saved model (optional)
  std::vector<std::int32_t> train_tokens, valid_tokens;

  std::string device = "cpu";
  bool bf16_autocast = true;        // CUDA only: forward/backward matmuls in bfloat16, weights stay float32
  int seq_len = 256;
  int batch_size = 16;              // sequences per micro-batch
  int grad_accum = 1;               // micro-batches per optimizer step
  std::int64_t steps = 1000;        // optimizer steps in total
  std::int64_t warmup_steps = 100;  // linear warmup, then cosine down to lr × min_lr_ratio
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double clip_grad_norm = 1.0;      // 0: no clipping
  std::string balance = "none";     // balance terms, e.g. "gini=0.01,z=0.001" (balance_losses.hpp)
  std::uint64_t seed = 0;

  std::int64_t log_every = 10;
  std::int64_t eval_every = 0;      // 0: evaluate only before the first and after the last step
  std::int64_t eval_tokens = 0;     // evaluate on the first this many validation tokens (0: all)
  std::int64_t checkpoint_every = 0;  // 0: only after the last step
  int keep_checkpoints = 1;         // checkpoint-<step> folders kept (newest first)
  std::int64_t stop_after = 0;      // stop (after checkpointing) once this step is reached; tests of --resume
  std::string save_dtype = "float32";  // dtype of OUT/model/model.safetensors
  bool resume = false;
  bool quiet = false;
};

struct EvalResult {
  double loss = 0, ppl = 0;
  std::int64_t tokens = 0;
  std::vector<double> gini, max_mean, cv, entropy;  // per MoE layer, of the top-k assignment counts (entropy normalised)
};

// An evaluation as history.jsonl and --json write it: {"loss", "ppl", "tokens", "gini", "cv", "max_mean", "entropy"}.
nlohmann::json eval_fields(const EvalResult& r);

struct TrainSummary {
  std::int64_t first_step = 0, last_step = 0;
  double final_loss = 0;
  EvalResult before, after;  // evaluations at first_step (only when starting at 0) and at last_step
  double train_s = 0, tokens_per_s = 0;
  std::filesystem::path model_dir;
};

// Throws InputError for bad options or data; resumes from OUT/latest when options.resume.
TrainSummary train_model(const TrainOptions& options);

// Writes a fresh randomly initialised model (config.json copied from `config_json`, weights drawn
// with `seed`, std `init_std`) to `dir`: the starting point of `moesim train`.
void write_initial_model(const std::filesystem::path& config_json, const std::filesystem::path& dir,
                         std::uint64_t seed, double init_std);

}  // namespace moesim::model
