// config.json → ModelConfig: the fields every architecture shares and the table from model_type
// to its parse function (each in its architecture's file). Field names and defaults follow
// transformers' <Arch>Config classes, so a config written by save_pretrained or found on the hub
// reads the same here as there.
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "architectures.hpp"
#include "config_fields.hpp"

namespace moesim::model {
namespace {

// LongRoPE (transformers' _compute_longrope_parameters, v5.17): inv_freq[i] = 1 / (ext[i] · theta^(2i/d))
// with ext = short_factor, or long_factor once the batch's largest position + 1 exceeds
// original_max_position_embeddings; cos/sin × attention_factor, by default sqrt(1 + ln(factor) /
// ln(original)) with factor = max_position_embeddings / original when absent (1 when factor ≤ 1).
void parse_longrope(const ConfigFields& f, const ConfigFields& r, const json& params, ModelConfig& c) {
  RopeScaling& s = c.rope_scaling;
  s.original_max_position_embeddings = params.contains("original_max_position_embeddings")
                                           ? r.positive("original_max_position_embeddings")
                                           : f.positive("original_max_position_embeddings");
  const std::size_t half = static_cast<std::size_t>(c.head_dim / 2);
  for (auto [key, factors] : {std::pair{"short_factor", &s.short_factor}, {"long_factor", &s.long_factor}}) {
    *factors = r.need<std::vector<double>>(key);
    if (factors->size() != half)
      f.fail(fmt::format("longrope '{}' has {} entries, expected head_dim / 2 = {}", key, factors->size(), half));
    for (double v : *factors)
      if (!(v > 0)) f.fail(fmt::format("longrope '{}' entries must be positive (got {})", key, v));
  }
  s.factor = r.get<double>("factor", 0.0);
  if (s.factor == 0.0)
    s.factor = static_cast<double>(f.positive("max_position_embeddings")) / s.original_max_position_embeddings;
  double attention_factor = r.get<double>("attention_factor", 0.0);
  if (attention_factor == 0.0)
    attention_factor = s.factor <= 1.0 ? 1.0
                                       : std::sqrt(1 + std::log(s.factor) / std::log(s.original_max_position_embeddings));
  s.short_mscale = s.long_mscale = attention_factor;
}

// RoPE base and scaling: transformers 5 writes rope_parameters {rope_theta, rope_type, ...}; older
// configs have rope_theta at the top level and an optional rope_scaling dict {type, factor, ...}.
// Defaults are those of transformers' modeling_rope_utils.py, so a config reads the same here as there.
void parse_rope(const ConfigFields& f, ModelConfig& c, double default_theta) {
  c.rope_theta = f.get<double>("rope_theta", default_theta);
  std::string type = "default";
  const json* params = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const json& j = f.raw();
    if (!j.contains(key) || !j[key].is_object()) continue;
    const json& r = j[key];
    if (r.contains("rope_theta") && r["rope_theta"].is_number()) c.rope_theta = r["rope_theta"].get<double>();
    std::string t = "default";
    for (const char* name : {"type", "rope_type"})  // rope_type wins, as in transformers
      if (r.contains(name) && r[name].is_string()) t = r[name].get<std::string>();
    if (t != "default" || !params) type = t, params = &r;
  }
  RopeScaling& s = c.rope_scaling;
  if (type == "default") return;
  static const std::map<std::string, RopeType> kTypes = {{"linear", RopeType::kLinear},
                                                          {"yarn", RopeType::kYarn},
                                                          {"llama3", RopeType::kLlama3},
                                                          {"longrope", RopeType::kLongRope}};
  auto known = kTypes.find(type);
  if (known == kTypes.end())
    f.fail(fmt::format("RoPE type '{}' is not supported (supported: default, linear, yarn, llama3, longrope; "
                       "'dynamic' is not implemented)", type));
  s.type = known->second;
  const ConfigFields r = f.nested(*params);
  if (s.type == RopeType::kLongRope) return parse_longrope(f, r, *params, c);
  // Python's `x or default`: absent, null and 0 all take the default.
  auto number_or = [&](const char* key, double fallback) {
    double v = r.get<double>(key, 0.0);
    return v != 0.0 ? v : fallback;
  };
  s.factor = r.need<double>("factor");
  if (!(s.factor > 0)) f.fail(fmt::format("RoPE 'factor' = {} must be positive", s.factor));
  s.mscale_all_dim = r.get<double>("mscale_all_dim", 0.0);  // DeepSeek-V3 reads it for any scaled type
  if (s.type == RopeType::kLinear) return;
  s.original_max_position_embeddings =
      params->contains("original_max_position_embeddings") ? r.positive("original_max_position_embeddings")
                                                           : f.positive("original_max_position_embeddings");
  if (s.type == RopeType::kYarn) {
    s.beta_fast = number_or("beta_fast", 32.0);
    s.beta_slow = number_or("beta_slow", 1.0);
    s.mscale = r.get<double>("mscale", 0.0);
    s.attention_factor = r.get<double>("attention_factor", 0.0);
    s.truncate = r.get<bool>("truncate", true);
  } else {  // llama3
    s.low_freq_factor = r.need<double>("low_freq_factor");
    s.high_freq_factor = r.need<double>("high_freq_factor");
    if (!(s.high_freq_factor > s.low_freq_factor) || !(s.low_freq_factor > 0))
      f.fail(fmt::format("llama3 RoPE needs 0 < low_freq_factor < high_freq_factor (got {} and {})",
                         s.low_freq_factor, s.high_freq_factor));
  }
}

}  // namespace

double yarn_mscale(double factor, double mscale) {
  return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

void parse_common(const ConfigFields& f, ModelConfig& c, double default_eps, double default_theta) {
  c.vocab_size = f.positive("vocab_size");
  c.hidden_size = f.positive("hidden_size");
  c.num_layers = f.positive("num_hidden_layers", ConfigFields::kMaxLayers);
  c.num_heads = f.positive("num_attention_heads", ConfigFields::kMaxLayers);
  c.num_kv_heads = f.get<int>("num_key_value_heads", c.num_heads);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    f.fail(fmt::format("num_key_value_heads = {} must divide num_attention_heads = {}", c.num_kv_heads, c.num_heads));
  c.head_dim = f.get<int>("head_dim", c.hidden_size / c.num_heads);
  if (c.head_dim <= 0 || c.head_dim > ConfigFields::kMaxSize) f.fail(fmt::format("field 'head_dim' = {} is out of range", c.head_dim));
  c.rms_norm_eps = f.get<double>("rms_norm_eps", default_eps);
  c.tie_word_embeddings = f.get<bool>("tie_word_embeddings", false);
  std::string act = f.get<std::string>("hidden_act", "silu");
  if (act != "silu") f.fail(fmt::format("hidden_act '{}' is not supported (only 'silu')", act));
  parse_rope(f, c, default_theta);
}

void parse_topk(const ConfigFields& f, ModelConfig& c, std::initializer_list<const char*> expert_keys) {
  const char* key = nullptr;
  for (const char* k : expert_keys)
    if (!key && f.raw().contains(k) && !f.raw()[k].is_null()) key = k;
  if (!key) f.fail(fmt::format("missing field '{}' (number of routed experts)", *expert_keys.begin()));
  c.num_experts = f.positive(key, 1 << 16);
  c.top_k = f.positive("num_experts_per_tok");
  if (c.top_k > c.num_experts)
    f.fail(fmt::format("num_experts_per_tok = {} exceeds {} = {}", c.top_k, key, c.num_experts));
}

void parse_sparse_layers(const ConfigFields& f, ModelConfig& c) {
  int step = f.get<int>("decoder_sparse_step", 1);
  if (step <= 0) f.fail("field 'decoder_sparse_step' must be positive");
  auto dense = f.get<std::vector<int>>("mlp_only_layers", {});
  c.moe_layer.assign(c.num_layers, false);
  for (int i = 0; i < c.num_layers; ++i)
    c.moe_layer[i] = std::find(dense.begin(), dense.end(), i) == dense.end() && c.num_experts > 0 && (i + 1) % step == 0;
}


std::vector<int> ModelConfig::moe_layer_indices() const {
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(moe_layer.size()); ++i)
    if (moe_layer[i]) out.push_back(i);
  return out;
}

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Architecture& a : architectures()) v.emplace_back(a.model_type);
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
  } catch (const json::exception& e) {  // a number too large for a double (1e400): out_of_range
    throw InputError(located(path, fmt::format("not valid JSON: {}", e.what())));
  }
  if (!j.is_object()) throw InputError(located(path, "is not a JSON object"));
  ConfigFields f(j, path);
  ModelConfig c;
  c.model_type = f.need<std::string>("model_type");
  const Architecture& architecture = find_architecture(c.model_type, path);
  architecture.parse(f, c);
  parse_quantization(f, c);
  // RoPE rotates pairs of dimensions (i, i + d/2): an odd rotary width has no such split, and would
  // only fail later, inside the forward pass, as a tensor shape error.
  const bool mla = architecture.graph == Graph::kDeepseekMla;
  const int rotary = mla ? c.qk_rope_head_dim : c.head_dim;
  if (rotary % 2 != 0)
    f.fail(fmt::format("field '{}' = {} must be even (RoPE rotates pairs of dimensions)", mla ? "qk_rope_head_dim" : "head_dim",
                       rotary));
  return c;
}

}  // namespace moesim::model
