// Capture: token ids → sequences → steps of `batch` sequences → one forward pass per step, whose
// RoutingHook records go straight into the trace writer. Memory is one step's routing.
#include "moesim/model/capture.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <span>

#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"
#include "moesim/traces/trace_writer.hpp"

namespace moesim::model {
namespace {

std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

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

std::vector<std::int32_t> dataset_token_ids(const std::string& dataset, const std::filesystem::path& data_dir,
                                            const Tokenizer& tokenizer, std::uint64_t max_tokens) {
  std::vector<std::int32_t> ids;
  auto full = [&] { return max_tokens > 0 && ids.size() >= max_tokens; };
  auto add_document = [&](std::string_view text) {
    auto doc = encode_for_model(tokenizer, text, /*add_bos=*/true);
    ids.insert(ids.end(), doc.begin(), doc.end());
  };
  const auto colon = dataset.find(':');
  const std::string name = dataset.substr(0, colon), arg = colon == std::string::npos ? "" : dataset.substr(colon + 1);
  if (name == "text") {
    if (arg.empty()) throw InputError("--dataset text:FILE needs a file name");
    add_document(read_text_file(arg));
  } else if (name == "wikitext2") {
    add_document(load_wikitext2_hf_joined(data_dir, arg.empty() ? "test" : arg));
  } else if (name == "c4") {
    for (const auto& doc : load_c4(data_dir))
      if (!full()) add_document(doc.text);
  } else if (name == "lambada") {
    for (const auto& ex : load_lambada(data_dir))
      if (!full()) add_document(ex.context + " " + ex.target);
  } else {
    throw InputError(fmt::format("--dataset {}: expected wikitext2[:train|valid|test], c4, lambada or text:FILE", dataset));
  }
  if (max_tokens > 0 && ids.size() > max_tokens) ids.resize(max_tokens);
  if (ids.empty()) throw InputError(fmt::format("--dataset {}: no tokens", dataset));
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

CaptureSummary capture_trace(const MoeModel& model, const CaptureOptions& o, Progress* progress) {
  if (o.batch <= 0) throw InputError(fmt::format("--batch {} must be positive", o.batch));
  if (o.seq_len <= 0) throw InputError(fmt::format("--seq {} must be positive", o.seq_len));
  const ModelConfig& c = model.config();
  std::uint64_t total = o.token_ids.size();
  if (o.max_tokens > 0) total = std::min<std::uint64_t>(total, o.max_tokens);
  if (total == 0) throw InputError("no tokens to capture");

  traces::TraceHeader header;
  header.model = o.model_dir.string();
  header.architecture = c.model_type;
  header.model_layers = c.moe_layer_indices();
  header.num_layers = static_cast<int>(header.model_layers.size());
  header.num_experts = c.num_experts;
  // A strategy other than the model's own may drop pairs (capacity, expert choice, balanced past
  // its capacity) or give a token more than k experts: its trace has a kept mask (format 1.1), and
  // as many slots per token as the strategy may fill.
  const bool rerouted = model.routing_strategy().name != "topk";
  const int slots = rerouted ? trace_slots(model.routing_strategy().name, c.top_k, c.num_experts) : c.top_k;
  header.top_k = slots;
  header.router_top_k = c.top_k;
  header.has_kept_mask = rerouted;
  header.hidden_size = c.hidden_size;
  header.dataset = o.dataset;
  header.tokenizer = o.tokenizer;
  header.created_by = o.created_by;
  header.created_at = utc_now_iso8601();
  header.routing_strategy = model.routing_strategy().text;
  header.has_token_ids = true;
  header.has_router_probs = o.router_probs;
  traces::TraceWriter writer(o.out, header);

  CaptureSummary summary;
  summary.moe_layers = header.num_layers;
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
    std::vector<traces::LayerRouting> layers;
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
      layers.push_back({ids, gates, o.router_probs ? std::span<const float>(r.router_probs) : std::span<const float>(),
                        row_kept[l]});
    }
    writer.append_step({sequence_id, position, token_id}, layers);
    summary.tokens += end - begin;
    ++summary.steps;
    if (progress) progress->advance(end - begin);
  }
  writer.close();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace moesim::model
