// The capture loop without the trace file: token ids → sequences → steps of `batch` sequences → one
// forward pass per step, each step's routing handed to a sink as trace rows (format 1.1: exactly
// `slots` distinct experts per token, and under a strategy the kept mask of the pairs it kept). capture.cpp's sink writes the HDF5 trace; moesim-gpu's
// bench-capture (scripts/gpu/) times the same loop with a sink that only counts.
#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <span>

#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/model/capture.hpp"

namespace moesim::model {
namespace {

// Keeps the records of one forward pass, in MoE layer order.
struct StepRouting : RoutingHook {
  bool probs = false;
  std::vector<RoutingRecord> layers;
  bool wants_router_probs() const override { return probs; }
  void on_routing(const RoutingRecord& r) override { layers.push_back(r); }
};

std::int32_t parse_id(const std::string& token, const std::string& where) {
  try {
    std::size_t used = 0;
    long long v = std::stoll(token, &used);
    if (used == token.size() && v >= 0 && v <= INT32_MAX) return static_cast<std::int32_t>(v);
  } catch (const std::exception&) {
  }
  throw InputError(fmt::format("{}: '{}' is not a token id (a non-negative integer)", where, token));
}

}  // namespace

std::vector<std::int32_t> parse_id_list(const std::string& text, const std::string& what) {
  std::vector<std::int32_t> ids;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    ids.push_back(parse_id(text.substr(begin, end - begin), what));
    begin = end + 1;
  }
  return ids;
}

std::vector<std::int32_t> read_token_ids(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(located(file, "cannot open"));
  std::vector<std::int32_t> ids;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (std::isspace(static_cast<unsigned char>(line[i])) || line[i] == ',')) ++i;
      std::size_t start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])) && line[i] != ',') ++i;
      if (i > start)
        ids.push_back(parse_id(line.substr(start, i - start), located(file, line_no, static_cast<int>(start) + 1, "token")));
    }
  }
  if (ids.empty()) throw InputError(located(file, "holds no token ids"));
  return ids;
}

void trace_row(std::span<const std::int32_t> ids, std::span<const float> gates, std::span<const float> probs, int slots,
               std::int32_t* ids_out, float* gates_out, std::uint8_t* kept_out) {
  int n = 0;
  for (std::size_t j = 0; j < ids.size(); ++j) {  // ids come sorted by gate, empty slots last
    if (ids[j] < 0) continue;
    if (n == slots) throw std::logic_error(fmt::format("trace_row: a token has more than {} experts", slots));
    ids_out[n] = ids[j], gates_out[n] = gates[j], kept_out[n++] = 1;
  }
  while (n < slots) {  // the router's best expert not yet in the row
    std::int32_t best = -1;
    for (std::size_t e = 0; e < probs.size(); ++e) {
      bool used = false;
      for (int j = 0; j < n; ++j) used = used || ids_out[j] == static_cast<std::int32_t>(e);
      if (!used && (best < 0 || probs[e] > probs[best])) best = static_cast<std::int32_t>(e);
    }
    ids_out[n] = best;
    gates_out[n] = 0.0f;
    kept_out[n++] = 0;
  }
}

int trace_slots(const std::string& strategy_name, int top_k, int num_experts) {
  return strategy_name == "expert_choice" ? num_experts : top_k;
}

void check_capture_options(const CaptureOptions& o) {
  if (o.batch <= 0) throw InputError(fmt::format("--batch {} must be positive", o.batch));
  if (o.seq_len <= 0) throw InputError(fmt::format("--seq {} must be positive", o.seq_len));
  if (o.token_ids.empty()) throw InputError("no tokens to capture");
}

CaptureSummary capture_steps(const MoeModel& model, const CaptureOptions& o, const StepSink& sink, Progress* progress) {
  check_capture_options(o);
  const ModelConfig& c = model.config();
  std::uint64_t total = o.token_ids.size();
  if (o.max_tokens > 0) total = std::min<std::uint64_t>(total, o.max_tokens);

  const bool rerouted = model.routing_strategy().name != "topk";
  const int slots = rerouted ? trace_slots(model.routing_strategy().name, c.top_k, c.num_experts) : c.top_k;
  CaptureSummary summary;
  summary.moe_layers = static_cast<int>(c.moe_layer_indices().size());
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t step_tokens = static_cast<std::uint64_t>(o.batch) * o.seq_len;
  for (std::uint64_t begin = 0; begin < total; begin += step_tokens) {
    const std::uint64_t end = std::min(total, begin + step_tokens);
    std::vector<std::vector<std::int32_t>> sequences;
    std::vector<std::int32_t> sequence_id, position, token_id;
    for (std::uint64_t s = begin; s < end; s += o.seq_len) {
      const std::uint64_t s_end = std::min(end, s + o.seq_len);
      sequences.emplace_back(o.token_ids.begin() + s, o.token_ids.begin() + s_end);
      for (std::uint64_t t = s; t < s_end; ++t) {
        sequence_id.push_back(static_cast<std::int32_t>(summary.sequences));
        position.push_back(static_cast<std::int32_t>(t - s));
        token_id.push_back(o.token_ids[t]);
      }
      ++summary.sequences;
    }
    StepRouting routing;
    routing.probs = o.router_probs || rerouted;  // filling empty slots needs the router's preferences
    ForwardResult result = model.forward(sequences, &routing, o.want_logits);
    if (o.on_step) o.on_step(sequences, result, routing.layers);
    std::vector<std::vector<std::int32_t>> row_ids(routing.layers.size());
    std::vector<std::vector<float>> row_gates(routing.layers.size());
    std::vector<std::vector<std::uint8_t>> row_kept(routing.layers.size());
    CapturedStep step{sequence_id, position, token_id, {}};
    for (std::size_t l = 0; l < routing.layers.size(); ++l) {
      const RoutingRecord& r = routing.layers[l];
      std::span<const std::int32_t> ids = r.expert_ids;
      std::span<const float> gates = r.gates;
      if (rerouted) {  // exactly `slots` distinct experts per token, and which of them were kept
        row_ids[l].resize(r.tokens * slots);
        row_gates[l].resize(r.tokens * slots);
        row_kept[l].resize(r.tokens * slots);
        for (std::int64_t t = 0; t < r.tokens; ++t)
          trace_row(ids.subspan(t * r.top_k, r.top_k), gates.subspan(t * r.top_k, r.top_k),
                    std::span<const float>(r.router_probs).subspan(t * r.num_experts, r.num_experts), slots,
                    row_ids[l].data() + t * slots, row_gates[l].data() + t * slots, row_kept[l].data() + t * slots);
        ids = row_ids[l];
        gates = row_gates[l];
      }
      step.layers.push_back({ids, gates, o.router_probs ? std::span<const float>(r.router_probs) : std::span<const float>(),
                             row_kept[l]});
    }
    sink(step);
    summary.tokens += end - begin;
    ++summary.steps;
    if (progress) progress->advance(end - begin);
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace moesim::model
