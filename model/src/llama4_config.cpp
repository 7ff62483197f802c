// Llama 4's config.json (meta-llama/Llama-4-Scout-17B-16E, Llama-4-Maverick-17B-128E): model_type
// "llama4_text" for the text model alone, "llama4" for the multimodal checkpoint whose text model is
// described by its text_config (the vision tower is not run: its tensors are ignored at load).
// Field names and defaults follow transformers' Llama4TextConfig (configuration_llama4.py, v5.17).
// Forward pass: llama4.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "config_fields.hpp"

namespace moesim::model {
namespace {

// Which layers are MoE: moe_layers when given, else every interleave_moe_layer_step-th layer
// counting from step - 1 (Maverick: 1, 3, 5...; Scout: all).
void parse_moe_layers(const ConfigFields& f, ModelConfig& c) {
  c.moe_layer.assign(c.num_layers, false);
  if (f.raw().contains("moe_layers") && !f.raw()["moe_layers"].is_null()) {
    for (int i : f.get<std::vector<int>>("moe_layers", {})) {
      if (i < 0 || i >= c.num_layers)
        f.fail(fmt::format("moe_layers lists layer {}, outside 0..{}", i, c.num_layers - 1));
      c.moe_layer[i] = true;
    }
    return;
  }
  const int step = f.get<int>("interleave_moe_layer_step", 1);
  if (step <= 0) f.fail(fmt::format("field 'interleave_moe_layer_step' = {} must be positive", step));
  for (int i = step - 1; i < c.num_layers; i += step) c.moe_layer[i] = true;
}

// RoPE per layer: no_rope_layers[i] = 1 means layer i USES RoPE (the name reads backwards); absent
// or empty, a NoPE layer every no_rope_layer_interval layers.
void parse_rope_layers(const ConfigFields& f, ModelConfig& c) {
  std::vector<int> flags = f.get<std::vector<int>>("no_rope_layers", {});
  if (flags.empty()) {
    const int interval = f.get<int>("no_rope_layer_interval", 4);
    if (interval <= 0) f.fail(fmt::format("field 'no_rope_layer_interval' = {} must be positive", interval));
    for (int i = 0; i < c.num_layers; ++i) flags.push_back((i + 1) % interval != 0 ? 1 : 0);
  }
  if (static_cast<int>(flags.size()) < c.num_layers)
    f.fail(fmt::format("no_rope_layers has {} entries for {} layers", flags.size(), c.num_layers));
  c.rope_layer.assign(c.num_layers, false);
  for (int i = 0; i < c.num_layers; ++i) {
    if (flags[i] != 0 && flags[i] != 1) f.fail(fmt::format("no_rope_layers[{}] = {} must be 0 or 1", i, flags[i]));
    c.rope_layer[i] = flags[i] == 1;
  }
}

// Chunked local attention per layer: layer_types when given, else on the RoPE layers (the NoPE
// layers attend globally), as Llama4TextConfig.__post_init__ derives it.
void parse_chunked_layers(const ConfigFields& f, ModelConfig& c) {
  c.chunked_layer = c.rope_layer;
  const json& j = f.raw();
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    const json& types = j["layer_types"];
    if (!types.is_array() || static_cast<int>(types.size()) < c.num_layers)
      f.fail(fmt::format("field 'layer_types' must list one type for each of the {} layers", c.num_layers));
    for (int i = 0; i < c.num_layers; ++i) {
      const std::string type = types[i].is_string() ? types[i].get<std::string>() : types[i].dump();
      if (type != "chunked_attention" && type != "full_attention")
        f.fail(fmt::format("layer_types[{}] = '{}' is not supported (chunked_attention or full_attention)", i, type));
      c.chunked_layer[i] = type == "chunked_attention";
    }
  }
  const bool any_chunked = std::find(c.chunked_layer.begin(), c.chunked_layer.end(), true) != c.chunked_layer.end();
  c.attention_chunk_size = f.non_negative("attention_chunk_size", 0);
  if (any_chunked && c.attention_chunk_size == 0)
    f.fail("chunked_attention layers need a positive 'attention_chunk_size'");
}

}  // namespace

void parse_llama4_text_config(const ConfigFields& f, ModelConfig& c) {
  parse_common(f, c, 1e-5, 500000.0);
  // intermediate_size: each routed expert and the shared expert; intermediate_size_mlp: dense layers.
  c.moe_intermediate_size = c.shared_expert_intermediate_size = f.positive("intermediate_size");
  c.intermediate_size = f.non_negative("intermediate_size_mlp", 16384);
  parse_topk(f, c, {"num_local_experts"});
  c.router = Router::kSigmoidTopK;
  c.norm_topk_prob = false;
  c.qkv_bias = c.o_bias = f.get<bool>("attention_bias", false);
  c.qk_norm = f.get<bool>("use_qk_norm", true) ? QkNorm::kL2 : QkNorm::kNone;
  parse_moe_layers(f, c);
  parse_rope_layers(f, c);
  parse_chunked_layers(f, c);
  c.attn_temperature_tuning = f.get<bool>("attn_temperature_tuning", true);
  c.floor_scale = f.get<double>("floor_scale", 8192.0);
  c.attn_scale = f.get<double>("attn_scale", 0.1);
  if (c.attn_temperature_tuning && !(c.floor_scale > 0))
    f.fail(fmt::format("field 'floor_scale' = {} must be positive with attn_temperature_tuning", c.floor_scale));
}

void parse_llama4_config(const ConfigFields& f, ModelConfig& c) {
  const json& j = f.raw();
  if (!j.contains("text_config") || !j["text_config"].is_object())
    f.fail("model_type 'llama4' needs a 'text_config' object (the text model's settings)");
  parse_llama4_text_config(f.nested(j["text_config"]), c);
  // The multimodal model ties (or not) through its own field; one that disagrees with the text
  // model's would leave it unclear which head transformers uses.
  if (j.contains("tie_word_embeddings") && f.get<bool>("tie_word_embeddings", false) != c.tie_word_embeddings)
    f.fail("tie_word_embeddings differs between the top level and text_config");
}

}  // namespace moesim::model
