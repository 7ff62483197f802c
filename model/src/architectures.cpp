// The table of architectures (architectures.hpp). One line per model_type; its parse function
// lives in the architecture's own file, its forward pass in the Graph's file.
#include "architectures.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <vector>

namespace moesim::model {

namespace {
//                          model_type     parse                     forward pass        trainable  extra layers unused
constexpr std::array kArchitectures = {
    Architecture{"deepseek_v2", parse_deepseek_v2_config, Graph::kDeepseekMla, false, true},
    Architecture{"deepseek_v3", parse_deepseek_v3_config, Graph::kDeepseekMla, false, true},
    Architecture{"ernie4_5_moe", parse_ernie4_5_moe_config, Graph::kGqaMoe,     false, false},
    Architecture{"glm4_moe",    parse_glm4_moe_config,    Graph::kGqaMoe,       false, true},
    Architecture{"gpt_oss",     parse_gpt_oss_config,     Graph::kGqaMoe,       false, false},
    Architecture{"granitemoe",  parse_granitemoe_config,  Graph::kGqaMoe,       false, false},
    Architecture{"llama4",      parse_llama4_config,      Graph::kLlama4,       false, false},
    Architecture{"llama4_text", parse_llama4_text_config, Graph::kLlama4,       false, false},
    Architecture{"mixtral",     parse_mixtral_config,     Graph::kGqaMoe,       true,  false},
    Architecture{"olmoe",       parse_olmoe_config,       Graph::kGqaMoe,       true,  false},
    Architecture{"phimoe",      parse_phimoe_config,      Graph::kGqaMoe,       false, false},
    Architecture{"qwen2_moe",   parse_qwen2_moe_config,   Graph::kGqaMoe,       true,  false},
    Architecture{"qwen3_moe",   parse_qwen3_moe_config,   Graph::kGqaMoe,       true,  false},
};
}  // namespace

std::span<const Architecture> architectures() { return kArchitectures; }

const Architecture& find_architecture(std::string_view model_type, const std::filesystem::path& config) {
  for (const Architecture& a : kArchitectures)
    if (a.model_type == model_type) return a;
  std::vector<std::string_view> names;
  for (const Architecture& a : kArchitectures) names.push_back(a.model_type);
  throw InputError(located(config, fmt::format("model_type '{}' is not supported (supported: {})", model_type,
                                               fmt::join(names, ", "))));
}

}  // namespace moesim::model
