#pragma once
// What a trace file says about itself (its HDF5 root attributes). traces/FORMAT.md is the schema.
#include <cstdint>
#include <string>
#include <vector>

namespace moesim::traces {

inline constexpr const char* kFormatName = "moesim-trace";
inline constexpr int kFormatVersion = 1;
// Minor versions add optional parts that older readers may ignore at their own risk; readers of
// this code accept every minor version up to this one. 1.1 added `layers/<l>/kept` (FORMAT.md).
inline constexpr int kFormatMinorVersion = 1;

struct TraceHeader {
  std::string model;             // e.g. "mistralai/Mixtral-8x7B-v0.1" or a directory name
  std::string architecture;      // config.json model_type: mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3, synthetic
  int num_layers = 0;            // MoE layers in the file (dense layers are not recorded)
  int num_experts = 0;           // routed experts per MoE layer
  int top_k = 0;                 // experts chosen per token (slots per token: more under expert choice)
  int router_top_k = 0;          // the router's k when top_k holds more slots (1.1); 0 = top_k
  int hidden_size = 0;           // model width; one token's activation is hidden_size × dtype bytes
  std::vector<int> model_layers; // model layer index of each recorded MoE layer (size num_layers)
  std::string dataset;           // wikitext2, c4, lambada, text:FILE, synthetic:zipf(s=1.2), ...
  std::string tokenizer;         // tokenizer file or kind
  std::string routing_strategy = "topk";  // assignment strategy that produced the routing
  std::string created_by;        // the command line that made the file
  std::string created_at;        // ISO-8601 UTC time
  std::uint64_t num_tokens = 0;  // filled in by the writer
  std::uint64_t num_steps = 0;   // filled in by the writer
  bool has_token_ids = false;
  bool has_router_probs = false;
  // Every layer has a `kept` mask: a strategy dropped some (token, expert) slots (capacity, expert
  // choice). Without it every slot is a pair that was computed and sent.
  bool has_kept_mask = false;
  int version_minor = kFormatMinorVersion;  // read from the file (0 when it predates minor versions)
  int natural_top_k() const { return router_top_k > 0 ? router_top_k : top_k; }
};

}  // namespace moesim::traces
