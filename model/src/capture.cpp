// Capture: token ids → sequences → steps of `batch` sequences → one forward pass per step, whose
// RoutingHook records go straight into the trace writer (the loop: capture_steps.cpp). Memory is
// one step's routing.
#include "moesim/model/capture.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

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

}  // namespace

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

CaptureSummary capture_trace(const MoeModel& model, const CaptureOptions& o, Progress* progress) {
  check_capture_options(o);
  const ModelConfig& c = model.config();
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
  CaptureSummary summary = capture_steps(model, o, [&](const CapturedStep& step) {
    std::vector<traces::LayerRouting> layers;
    for (const CapturedLayer& l : step.layers) layers.push_back({l.expert_ids, l.gates, l.router_probs, l.kept});
    writer.append_step({step.sequence_id, step.position, step.token_id}, layers);
  }, progress);
  const auto start = std::chrono::steady_clock::now();
  writer.close();
  summary.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace moesim::model
