#pragma once
// Routing capture: run a model over token ids in steps of `batch` sequences of `seq_len` tokens and
// stream every MoE layer's choices into a trace file (format v1, traces/FORMAT.md).
#include <cstdint>
#include <span>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "moesim/model/model.hpp"

namespace moesim {
class Progress;
}

namespace moesim::model {

struct CaptureOptions {
  std::filesystem::path model_dir;
  std::vector<std::int32_t> token_ids;  // the corpus, already tokenized, cut into sequences of seq_len
  std::string dataset = "ids";          // recorded in the trace header
  std::string tokenizer = "none";       // recorded in the trace header
  std::uint64_t max_tokens = 0;         // 0: all of token_ids
  int batch = 8;                        // sequences per step (one forward pass)
  int seq_len = 512;
  LoadOptions load;
  bool router_probs = false;
  std::filesystem::path out;
  std::string created_by;
  // Called after each step's forward pass (assign-eval scores perplexity here); with want_logits the
  // pass computes logits. Routing reaches it as the records of the step, in MoE layer order.
  bool want_logits = false;
  std::function<void(const std::vector<std::vector<std::int32_t>>& sequences, const ForwardResult& result,
                     const std::vector<RoutingRecord>& routing)> on_step;
};

// A routing row as the trace holds it: exactly `slots` distinct experts and a kept flag for each
// (format 1.1's kept mask). A strategy's row may have empty slots (−1, a dropped pair: the token
// skips that expert, the residual carries it): the kept experts come first, in gate order, then the
// empty slots are filled, gate 0 and kept 0, with the experts the router scores highest
// (router_probs) that are not in the row yet. ids/gates/probs are one token's; writes `slots` ids,
// gates and flags. A row with more kept experts than slots is a bug of the caller (std::logic_error):
// the trace would lose pairs that were computed.
void trace_row(std::span<const std::int32_t> ids, std::span<const float> gates, std::span<const float> probs, int slots,
               std::int32_t* ids_out, float* gates_out, std::uint8_t* kept_out);

// Slots per token in the trace of a strategy: k, or E for strategies that can give a token more
// than k experts (expert_choice), so that no pair is lost; the kept mask marks the used ones.
int trace_slots(const std::string& strategy_name, int top_k, int num_experts);

struct CaptureSummary {
  std::uint64_t tokens = 0, steps = 0, sequences = 0;
  int moe_layers = 0;
  double seconds = 0;  // forward passes and trace writing, not model loading
  double tokens_per_s() const { return seconds > 0 ? tokens / seconds : 0; }
};

// One step of a capture as trace rows: tokens sequence by sequence, per MoE layer (T, slots) expert
// ids (largest gate first, distinct) and gates, (T, E) router probabilities if asked, and under a
// strategy (T, slots) kept flags (format 1.1; slots = trace_slots(), k unless expert choice).
struct CapturedLayer {
  std::span<const std::int32_t> expert_ids;
  std::span<const float> gates, router_probs;
  std::span<const std::uint8_t> kept;  // empty for the model's own routing (every pair kept)
};
struct CapturedStep {
  std::span<const std::int32_t> sequence_id, position, token_id;
  std::vector<CapturedLayer> layers;
};
using StepSink = std::function<void(const CapturedStep&)>;

// The capture loop (capture_steps.cpp, no trace file): every step's rows go to `sink`.
CaptureSummary capture_steps(const MoeModel& model, const CaptureOptions& options, const StepSink& sink,
                             Progress* progress = nullptr);
// Throws InputError for a non-positive batch or seq_len, or no tokens.
void check_capture_options(const CaptureOptions& options);

// Throws InputError for bad options or input; the trace appears under `out` only when complete.
CaptureSummary capture_trace(const MoeModel& model, const CaptureOptions& options, Progress* progress = nullptr);

// Token ids from a text file: integers separated by whitespace or commas. Errors name line:column.
std::vector<std::int32_t> read_token_ids(const std::filesystem::path& file);
class Tokenizer;

// The corpus of `moesim capture --dataset`: wikitext2[:split] (default test), c4, lambada, or
// text:FILE, tokenized with BOS in front of each document, concatenated, cut after max_tokens
// (0 = all). Data sets are read from data_dir as laid out in ../shared/data (datasets.hpp).
std::vector<std::int32_t> dataset_token_ids(const std::string& dataset, const std::filesystem::path& data_dir,
                                            const Tokenizer& tokenizer, std::uint64_t max_tokens);

// "1,2,3" → {1, 2, 3}; `what` names the flag in errors.
std::vector<std::int32_t> parse_id_list(const std::string& text, const std::string& what);

}  // namespace moesim::model
