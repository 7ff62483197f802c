// config.json → ModelConfig, one parse function per model_type. Field names and defaults follow
// transformers' <Arch>Config classes, so a config written by save_pretrained or found on the hub
// reads the same here as there.
#include "moesim/model/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "moesim/common/error.hpp"

namespace moesim::model {
namespace {

using nlohmann::json;

// Typed access to config.json fields with errors that name the field.
class Fields {
 public:
  Fields(const json& j, std::filesystem::path file) : j_(j), file_(std::move(file)) {}

  template <class T>
  T need(const char* key) const {
    if (!j_.contains(key) || j_[key].is_null()) fail(fmt::format("missing field '{}'", key));
    return as<T>(key);
  }
  template <class T>
  T get(const char* key, T fallback) const {
    if (!j_.contains(key) || j_[key].is_null()) return fallback;
    return as<T>(key);
  }
  int positive(const char* key) const {
    int v = need<int>(key);
    if (v <= 0) fail(fmt::format("field '{}' must be positive, got {}", key, v));
    return v;
  }
  const json& raw() const { return j_; }
  [[noreturn]] void fail(const std::string& message) const { throw InputError(located(file_, message)); }

 private:
  template <class T>
  T as(const char* key) const {
    try {
      return j_[key].get<T>();
    } catch (const json::exception&) {
      fail(fmt::format("field '{}' has the wrong type: {}", key, j_[key].dump()));
    }
  }
  const json& j_;
  std::filesystem::path file_;
};

// RoPE base and type: transformers 5 writes rope_parameters {rope_theta, rope_type}; older configs
// have rope_theta at the top level and an optional rope_scaling dict.
void parse_rope(const Fields& f, ModelConfig& c, double default_theta) {
  c.rope_theta = f.get<double>("rope_theta", default_theta);
  std::string type = "default";
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const json& j = f.raw();
    if (!j.contains(key) || !j[key].is_object()) continue;
    const json& r = j[key];
    if (r.contains("rope_theta") && r["rope_theta"].is_number()) c.rope_theta = r["rope_theta"].get<double>();
    for (const char* t : {"rope_type", "type"})
      if (r.contains(t) && r[t].is_string()) type = r[t].get<std::string>();
  }
  if (type != "default")
    f.fail(fmt::format("RoPE type '{}' is not supported yet (only 'default'); the parity tests cover no scaling", type));
}

void parse_common(const Fields& f, ModelConfig& c, double default_eps, double default_theta) {
  c.vocab_size = f.positive("vocab_size");
  c.hidden_size = f.positive("hidden_size");
  c.num_layers = f.positive("num_hidden_layers");
  c.num_heads = f.positive("num_attention_heads");
  c.num_kv_heads = f.get<int>("num_key_value_heads", c.num_heads);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    f.fail(fmt::format("num_key_value_heads = {} must divide num_attention_heads = {}", c.num_kv_heads, c.num_heads));
  c.head_dim = f.get<int>("head_dim", c.hidden_size / c.num_heads);
  c.rms_norm_eps = f.get<double>("rms_norm_eps", default_eps);
  c.tie_word_embeddings = f.get<bool>("tie_word_embeddings", false);
  std::string act = f.get<std::string>("hidden_act", "silu");
  if (act != "silu") f.fail(fmt::format("hidden_act '{}' is not supported (only 'silu')", act));
  parse_rope(f, c, default_theta);
}

// The routed-expert count goes by several names (transformers maps them onto each other when it
// writes configs): num_local_experts, num_experts, n_routed_experts. The first present is used.
void parse_topk(const Fields& f, ModelConfig& c, std::initializer_list<const char*> expert_keys) {
  const char* key = nullptr;
  for (const char* k : expert_keys)
    if (!key && f.raw().contains(k) && !f.raw()[k].is_null()) key = k;
  if (!key) f.fail(fmt::format("missing field '{}' (number of routed experts)", *expert_keys.begin()));
  c.num_experts = f.positive(key);
  c.top_k = f.positive("num_experts_per_tok");
  if (c.top_k > c.num_experts)
    f.fail(fmt::format("num_experts_per_tok = {} exceeds {} = {}", c.top_k, key, c.num_experts));
}

// Qwen2/Qwen3-MoE: layer i is MoE unless listed in mlp_only_layers or off the decoder_sparse_step grid.
void parse_sparse_layers(const Fields& f, ModelConfig& c) {
  int step = f.get<int>("decoder_sparse_step", 1);
  if (step <= 0) f.fail("field 'decoder_sparse_step' must be positive");
  auto dense = f.get<std::vector<int>>("mlp_only_layers", {});
  c.moe_layer.assign(c.num_layers, false);
  for (int i = 0; i < c.num_layers; ++i)
    c.moe_layer[i] = std::find(dense.begin(), dense.end(), i) == dense.end() && c.num_experts > 0 && (i + 1) % step == 0;
  if (f.get<bool>("use_sliding_window", false)) f.fail("use_sliding_window = true is not supported");
}

void parse_mixtral(const Fields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 1e6);
  c.intermediate_size = c.moe_intermediate_size = f.positive("intermediate_size");
  parse_topk(f, c, {"num_local_experts", "num_experts"});
  c.norm_topk_prob = true;  // Mixtral always renormalises the chosen experts' weights
  c.moe_layer.assign(c.num_layers, true);
  if (!f.raw().value("sliding_window", json()).is_null())
    f.fail("sliding_window attention is not supported (set \"sliding_window\": null for full attention)");
}

void parse_qwen3_moe(const Fields& f, ModelConfig& c) {
  parse_common(f, c, 1e-6, 10000.0);
  c.intermediate_size = f.get<int>("intermediate_size", 0);
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  parse_topk(f, c, {"num_experts", "num_local_experts"});
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", true);
  c.qk_norm = QkNorm::kPerHead;
  parse_sparse_layers(f, c);
}

void parse_qwen2_moe(const Fields& f, ModelConfig& c) {
  parse_common(f, c, 1e-6, 10000.0);
  c.intermediate_size = f.get<int>("intermediate_size", 0);
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  c.shared_expert_intermediate_size = f.get<int>("shared_expert_intermediate_size", 0);
  parse_topk(f, c, {"num_experts", "num_local_experts"});
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", false);
  parse_sparse_layers(f, c);
}

void parse_olmoe(const Fields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 10000.0);
  c.intermediate_size = c.moe_intermediate_size = f.positive("intermediate_size");
  parse_topk(f, c, {"num_experts", "num_local_experts"});
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", false);
  c.qk_norm = QkNorm::kWhole;
  c.clip_qkv = f.get<double>("clip_qkv", 0.0);
  c.moe_layer.assign(c.num_layers, true);
}

void parse_deepseek_v3(const Fields& f, ModelConfig& c) {
  parse_common(f, c, 1e-6, 10000.0);
  c.intermediate_size = f.positive("intermediate_size");
  c.moe_intermediate_size = f.positive("moe_intermediate_size");
  parse_topk(f, c, {"n_routed_experts", "num_local_experts"});
  c.router = Router::kSigmoidGroupLimited;
  c.norm_topk_prob = f.get<bool>("norm_topk_prob", true);
  c.n_shared_experts = f.get<int>("n_shared_experts", 0);
  c.n_group = f.get<int>("n_group", 1);
  c.topk_group = f.get<int>("topk_group", 1);
  c.routed_scaling_factor = f.get<double>("routed_scaling_factor", 1.0);
  if (c.n_group <= 0 || c.num_experts % c.n_group != 0)
    f.fail(fmt::format("n_group = {} must divide n_routed_experts = {}", c.n_group, c.num_experts));
  if (c.topk_group <= 0 || c.topk_group > c.n_group)
    f.fail(fmt::format("topk_group = {} must be in 1..n_group = {}", c.topk_group, c.n_group));
  if (c.num_experts / c.n_group < 2) f.fail("each expert group needs at least 2 experts (groups are scored by their top 2)");
  c.q_lora_rank = f.get<int>("q_lora_rank", 0);
  c.kv_lora_rank = f.positive("kv_lora_rank");
  c.qk_nope_head_dim = f.positive("qk_nope_head_dim");
  c.qk_rope_head_dim = f.positive("qk_rope_head_dim");
  c.v_head_dim = f.positive("v_head_dim");
  c.rope_interleave = f.get<bool>("rope_interleave", true);
  int first_dense = f.get<int>("first_k_dense_replace", 0);
  c.moe_layer.assign(c.num_layers, false);
  for (int i = first_dense; i < c.num_layers; ++i) c.moe_layer[i] = true;
}

using Parser = std::function<void(const Fields&, ModelConfig&)>;
const std::map<std::string, Parser>& parsers() {
  static const std::map<std::string, Parser> table = {
      {"mixtral", parse_mixtral},     {"qwen3_moe", parse_qwen3_moe},       {"olmoe", parse_olmoe},
      {"qwen2_moe", parse_qwen2_moe}, {"deepseek_v3", parse_deepseek_v3},
  };
  return table;
}

}  // namespace

std::vector<int> ModelConfig::moe_layer_indices() const {
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(moe_layer.size()); ++i)
    if (moe_layer[i]) out.push_back(i);
  return out;
}

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& [name, parse] : parsers()) v.push_back(name);
    return v;
  }();
  return names;
}

ModelConfig load_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  if (!std::filesystem::is_directory(model_dir))
    throw InputError(located(model_dir, "is not a model directory (expected config.json and *.safetensors inside)"));
  std::ifstream in(path);
  if (!in) throw InputError(located(path, "cannot open"));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw InputError(located(path, fmt::format("not valid JSON (byte {}): {}", e.byte, e.what())));
  }
  if (!j.is_object()) throw InputError(located(path, "is not a JSON object"));
  Fields f(j, path);
  ModelConfig c;
  c.model_type = f.need<std::string>("model_type");
  auto it = parsers().find(c.model_type);
  if (it == parsers().end())
    f.fail(fmt::format("model_type '{}' is not supported (supported: {})", c.model_type,
                       fmt::join(supported_model_types(), ", ")));
  it->second(f, c);
  return c;
}

}  // namespace moesim::model
