#pragma once
// The commands that need LibTorch (model/ and assign-eval) live in a second executable,
// `moesim-model`, built beside `moesim`. Loading LibTorch costs ~1 s CPU and ~190 MB before main,
// which `moesim --help`, `trace stats` or a sweep's thousand small replays would all
// pay; so `moesim` itself never links it and hands these commands over with execv (same argv,
// same exit code, same output). `moesim --help` still lists them (kModelCommands: keep in step
// with the registrations in model/src/*_command.cpp and cli/assign_eval.cpp; the ctest
// cli.front_help_lists_model_commands compares both executables' --help).
#include "moesim/common/cli.hpp"

namespace moesim::front {

struct ModelCommand {
  const char* name;
  const char* description;
};

// In the order moesim-model registers them (the order --help prints).
inline constexpr ModelCommand kModelCommands[] = {
    {"forward", "Run a Hugging Face MoE checkpoint on token ids; save logits and routing (.safetensors)"},
    {"capture", "Record a MoE model's routing (experts and gate weights per token and layer) into a trace"},
    {"tokenize", "Print the token ids of a text (or the text of ids) with a tokenizer.json or tokenizer.model"},
    {"tokenizer-train", "Train a SentencePiece tokenizer (tokenizer.model) on text files"},
    {"train", "Train a MoE language model from scratch (AdamW, warmup + cosine, checkpoints, --resume)"},
    {"finetune", "Fine-tune a model directory, e.g. with a balance loss (same trainer as `moesim train`)"},
    {"eval-ppl", "Perplexity on WikiText-2 (sliding window), C4 (per document) or LAMBADA (last word)"},
    {"assign-eval", "Perplexity, LAMBADA, expert balance and replayed all-to-all latency of routing strategies (one table)"},
};

// argv[1] names a command of moesim-model.
bool is_model_command(int argc, char** argv);
// Replaces this process with moesim-model (beside this executable) on the same argv; returns only
// if that fails (exit code 1, after a one-line message).
int exec_model_binary(char** argv);
// --help entries for the model commands (never run: main execs moesim-model before parsing).
void register_model_stubs(cli::Commands& commands, CLI::App& app);

}  // namespace moesim::front
