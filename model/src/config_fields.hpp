#pragma once
// Reading config.json fields for the per-architecture parse functions (one per file:
// mixtral.cpp, qwen3_moe.cpp, olmoe.cpp, qwen2_moe.cpp, deepseek_v3.cpp). Internal to model/.
#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "moesim/common/error.hpp"
#include "moesim/common/json_number.hpp"
#include "moesim/model/config.hpp"

namespace moesim::model {

using nlohmann::json;

// Typed access to config.json fields with errors that name the field.
class ConfigFields {
 public:
  ConfigFields(const json& j, std::filesystem::path file) : j_(j), file_(std::move(file)) {}

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
  // A size: 1 ≤ value ≤ limit. config.json is untrusted: an absurd size must fail here, not as an
  // allocation of terabytes later.
  int positive(const char* key, std::int64_t limit = kMaxSize) const {
    if (!j_.contains(key) || j_[key].is_null()) fail(fmt::format("missing field '{}'", key));
    if (!j_[key].is_number()) wrong_type(key);
    return static_cast<int>(json_integer(j_[key], file_, fmt::format("field '{}'", key), 1, limit));
  }
  // An optional count or size: 0 ≤ value ≤ limit, `fallback` when absent.
  int non_negative(const char* key, int fallback, std::int64_t limit = kMaxSize) const {
    if (!j_.contains(key) || j_[key].is_null()) return fallback;
    if (!j_[key].is_number()) wrong_type(key);
    return static_cast<int>(json_integer(j_[key], file_, fmt::format("field '{}'", key), 0, limit));
  }
  static constexpr std::int64_t kMaxSize = 1 << 24;    // vocabulary, widths
  static constexpr std::int64_t kMaxLayers = 1 << 12;  // decoder layers, heads
  const json& raw() const { return j_; }
  // The same checks on a nested object (e.g. rope_parameters), errors still naming this file.
  ConfigFields nested(const json& j) const { return ConfigFields(j, file_); }
  [[noreturn]] void fail(const std::string& message) const { throw InputError(located(file_, message)); }

 private:
  // Integers go through json_integer: nlohmann's get<int>() would cast 1e30 (undefined), wrap 2^40
  // and truncate 3.5 without a word.
  template <class T>
  T as(const char* key) const {
    const json& v = j_[key];
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (!v.is_number()) wrong_type(key);
      return json_integer<T>(v, file_, fmt::format("field '{}'", key));
    } else if constexpr (std::is_same_v<T, std::vector<int>>) {
      if (!v.is_array()) wrong_type(key);
      std::vector<int> out;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_number()) wrong_type(key);
        out.push_back(json_integer<int>(v[i], file_, fmt::format("field '{}'[{}]", key, i)));
      }
      return out;
    } else {
      try {
        return v.get<T>();
      } catch (const json::exception&) {
        wrong_type(key);
      }
    }
  }
  [[noreturn]] void wrong_type(const char* key) const {
    fail(fmt::format("field '{}' has the wrong type: {}", key, j_[key].dump()));
  }
  const json& j_;
  std::filesystem::path file_;
};


// Fields every architecture shares (sizes, heads, norm epsilon, RoPE, activation, tied embeddings);
// the defaults are the architecture's own transformers defaults.
void parse_common(const ConfigFields& f, ModelConfig& c, double default_eps, double default_theta);
// The routed-expert count goes by several names (transformers maps them onto each other when it
// writes configs): num_local_experts, num_experts, n_routed_experts. The first present is used.
void parse_topk(const ConfigFields& f, ModelConfig& c, std::initializer_list<const char*> expert_keys);
// Qwen2/Qwen3-MoE: layer i is MoE unless listed in mlp_only_layers or off the decoder_sparse_step grid.
void parse_sparse_layers(const ConfigFields& f, ModelConfig& c);

// Sliding-window attention (sliding_window.cpp). Mixtral, Phi-3.5-MoE: every layer when
// sliding_window is set. Qwen2/3-MoE: use_sliding_window, then layer_types when config.json lists
// them, else every layer from max_window_layers on (Qwen2-MoE) or every layer (Qwen3-MoE).
// gpt-oss: layer_types, by default sliding on even layers.
void parse_sliding_window_everywhere(const ConfigFields& f, ModelConfig& c);
void parse_qwen_sliding_window(const ConfigFields& f, ModelConfig& c, bool reads_max_window_layers);
void parse_layer_types(const ConfigFields& f, ModelConfig& c);

// Multi-head latent attention and the dense/shared MLP layout DeepSeek-V2 and V3 share
// (deepseek_v3_config.cpp); routing is each version's own.
void parse_mla(const ConfigFields& f, ModelConfig& c);
// DeepSeek-V3's router, shared by GLM-4.5 (deepseek_v3_config.cpp): sigmoid scores, n_group /
// topk_group group-limited selection, norm_topk_prob, routed_scaling_factor.
void parse_sigmoid_group_limited(const ConfigFields& f, ModelConfig& c);

// quantization_config (quantization_config.cpp): the weight format the loader dequantizes.
void parse_quantization(const ConfigFields& f, ModelConfig& c);

// One per architecture file.
void parse_mixtral_config(const ConfigFields& f, ModelConfig& c);
void parse_qwen3_moe_config(const ConfigFields& f, ModelConfig& c);
void parse_olmoe_config(const ConfigFields& f, ModelConfig& c);
void parse_qwen2_moe_config(const ConfigFields& f, ModelConfig& c);
void parse_deepseek_v3_config(const ConfigFields& f, ModelConfig& c);
void parse_deepseek_v2_config(const ConfigFields& f, ModelConfig& c);
void parse_glm4_moe_config(const ConfigFields& f, ModelConfig& c);
void parse_ernie4_5_moe_config(const ConfigFields& f, ModelConfig& c);
void parse_granitemoe_config(const ConfigFields& f, ModelConfig& c);
void parse_gpt_oss_config(const ConfigFields& f, ModelConfig& c);
void parse_phimoe_config(const ConfigFields& f, ModelConfig& c);
void parse_llama4_text_config(const ConfigFields& f, ModelConfig& c);
void parse_llama4_config(const ConfigFields& f, ModelConfig& c);  // multimodal: its text_config

}  // namespace moesim::model
