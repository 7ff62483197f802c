// Which layers attend through a sliding window, as each family's transformers config decides it
// (v5.17). The mask itself: layers::attention_bias (query i sees key j when 0 ≤ i - j < window,
// masking_utils.sliding_window_overlay).
#include <fmt/format.h>

#include <algorithm>

#include "config_fields.hpp"

namespace moesim::model {
namespace {

int window_size(const ConfigFields& f) {
  return f.positive("sliding_window", ConfigFields::kMaxSize);
}

// config.json's explicit layer_types: one "full_attention" or "sliding_attention" per layer.
std::vector<bool> sliding_layers_from_types(const ConfigFields& f, int num_layers) {
  const json& types = f.raw()["layer_types"];
  if (!types.is_array() || static_cast<int>(types.size()) != num_layers)
    f.fail(fmt::format("field 'layer_types' must list one type per layer ({} layers)", num_layers));
  std::vector<bool> sliding;
  for (const json& t : types) {
    const std::string type = t.is_string() ? t.get<std::string>() : t.dump();
    if (type != "full_attention" && type != "sliding_attention")
      f.fail(fmt::format("layer type '{}' is not supported (full_attention, sliding_attention)", type));
    sliding.push_back(type == "sliding_attention");
  }
  return sliding;
}

bool has(const ConfigFields& f, const char* key) { return f.raw().contains(key) && !f.raw()[key].is_null(); }

}  // namespace

void parse_sliding_window_everywhere(const ConfigFields& f, ModelConfig& c) {
  c.sliding_layer.assign(c.num_layers, false);
  if (!has(f, "sliding_window")) return;
  c.sliding_window = window_size(f);
  c.sliding_layer.assign(c.num_layers, true);
}

void parse_qwen_sliding_window(const ConfigFields& f, ModelConfig& c, bool reads_max_window_layers) {
  c.sliding_layer.assign(c.num_layers, false);
  const bool enabled = f.get<bool>("use_sliding_window", false);
  if (has(f, "layer_types")) {
    c.sliding_layer = sliding_layers_from_types(f, c.num_layers);
  } else if (enabled) {
    // Qwen2-MoE: layers from max_window_layers on slide (default 28); Qwen3-MoE: every layer.
    const int first = reads_max_window_layers ? f.non_negative("max_window_layers", 28, ConfigFields::kMaxLayers) : 0;
    for (int i = first; i < c.num_layers; ++i) c.sliding_layer[i] = true;
  }
  const bool any = std::find(c.sliding_layer.begin(), c.sliding_layer.end(), true) != c.sliding_layer.end();
  if (any && !enabled) f.fail("layer_types lists sliding_attention but use_sliding_window is false (no window size)");
  if (enabled && any) c.sliding_window = window_size(f);
  if (!any) c.sliding_layer.assign(c.num_layers, false);
}

void parse_layer_types(const ConfigFields& f, ModelConfig& c) {
  if (has(f, "layer_types")) {
    c.sliding_layer = sliding_layers_from_types(f, c.num_layers);
  } else {  // GptOssConfig's default: sliding, full, sliding, full, ...
    c.sliding_layer.assign(c.num_layers, false);
    for (int i = 0; i < c.num_layers; i += 2) c.sliding_layer[i] = true;
  }
  if (std::find(c.sliding_layer.begin(), c.sliding_layer.end(), true) != c.sliding_layer.end())
    c.sliding_window = window_size(f);
}

}  // namespace moesim::model
