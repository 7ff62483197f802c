#pragma once
// Reading config.json fields for the per-architecture parse functions (one per file:
// mixtral.cpp, qwen3_moe.cpp, olmoe.cpp, qwen2_moe.cpp, deepseek_v3.cpp). Internal to model/.
#include <fmt/format.h>

#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "moesim/common/error.hpp"
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


// Fields every architecture shares (sizes, heads, norm epsilon, RoPE, activation, tied embeddings);
// the defaults are the architecture's own transformers defaults.
void parse_common(const ConfigFields& f, ModelConfig& c, double default_eps, double default_theta);
// The routed-expert count goes by several names (transformers maps them onto each other when it
// writes configs): num_local_experts, num_experts, n_routed_experts. The first present is used.
void parse_topk(const ConfigFields& f, ModelConfig& c, std::initializer_list<const char*> expert_keys);
// Qwen2/Qwen3-MoE: layer i is MoE unless listed in mlp_only_layers or off the decoder_sparse_step grid.
void parse_sparse_layers(const ConfigFields& f, ModelConfig& c);

// One per architecture file.
void parse_mixtral_config(const ConfigFields& f, ModelConfig& c);
void parse_qwen3_moe_config(const ConfigFields& f, ModelConfig& c);
void parse_olmoe_config(const ConfigFields& f, ModelConfig& c);
void parse_qwen2_moe_config(const ConfigFields& f, ModelConfig& c);
void parse_deepseek_v3_config(const ConfigFields& f, ModelConfig& c);

}  // namespace moesim::model
