// moesim forward: run a checkpoint on given token ids and save logits and routing, so that users
// porting a model can compare with their own reference (the same path the parity tests use).
#include <fmt/format.h>

#include <chrono>
#include <cstring>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/model.hpp"
#include "moesim/model/safetensors.hpp"

namespace moesim::model {
namespace {

struct ForwardArgs {
  std::string model, out, device = "cpu", dtype = "float32", mxfp4 = "dequantize";
  std::vector<std::string> ids;
  bool json = false;
};

struct KeepRouting : RoutingHook {
  std::vector<RoutingRecord> layers;
  void on_routing(const RoutingRecord& r) override { layers.push_back(r); }
};

template <class T>
std::span<const std::byte> bytes(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

int run_forward(const ForwardArgs& a) {
  std::vector<std::vector<std::int32_t>> sequences;
  for (std::size_t i = 0; i < a.ids.size(); ++i) sequences.push_back(parse_id_list(a.ids[i], fmt::format("--ids #{}", i + 1)));
  auto model = MoeModel::load(a.model, {a.device, a.dtype, a.mxfp4});
  KeepRouting routing;
  auto start = std::chrono::steady_clock::now();
  ForwardResult out = model->forward(sequences, &routing);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Same layout as the parity fixtures: left-padded (B, S) inputs, (B, S, V) logits, and per MoE
  // layer the routing of the real tokens in sequence order.
  std::vector<std::int64_t> input_ids(out.batch * out.seq_len, 0), mask(out.batch * out.seq_len, 0);
  for (std::int64_t b = 0; b < out.batch; ++b) {
    std::int64_t n = static_cast<std::int64_t>(sequences[b].size());
    for (std::int64_t i = 0; i < n; ++i) {
      input_ids[b * out.seq_len + out.seq_len - n + i] = sequences[b][i];
      mask[b * out.seq_len + out.seq_len - n + i] = 1;
    }
  }
  std::vector<TensorToWrite> tensors = {
      {"input_ids", DType::kI64, {out.batch, out.seq_len}, bytes(input_ids)},
      {"attention_mask", DType::kI64, {out.batch, out.seq_len}, bytes(mask)},
      {"logits", DType::kF32, {out.batch, out.seq_len, out.vocab}, bytes(out.logits)},
  };
  for (const RoutingRecord& r : routing.layers) {
    tensors.push_back({fmt::format("expert_ids.{}", r.model_layer), DType::kI32, {r.tokens, r.top_k}, bytes(r.expert_ids)});
    tensors.push_back({fmt::format("gates.{}", r.model_layer), DType::kF32, {r.tokens, r.top_k}, bytes(r.gates)});
  }
  write_safetensors(a.out, tensors, {{"format", "pt"}, {"created_by", cli::invocation()}});

  std::vector<std::int64_t> next_token;  // argmax of each sequence's last logits
  for (std::int64_t b = 0; b < out.batch; ++b) {
    auto last = out.at(b, out.seq_len - 1);
    next_token.push_back(std::max_element(last.begin(), last.end()) - last.begin());
  }
  if (a.json) {
    cli::print_json({{"out", a.out}, {"model", a.model}, {"architecture", model->config().model_type},
                     {"batch", out.batch}, {"seq_len", out.seq_len}, {"vocab", out.vocab},
                     {"moe_layers", routing.layers.size()}, {"next_token", next_token}, {"seconds", seconds},
                     {"device", a.device}, {"placement", model->placement()}, {"dtype", a.dtype}});
  } else {
    fmt::print("{} ({}): {} sequence(s), logits ({}, {}, {}) and routing of {} MoE layers written to {} in {:.3f} s\n",
               a.model, model->config().model_type, out.batch, out.batch, out.seq_len, out.vocab, routing.layers.size(),
               a.out, seconds);
    fmt::print("next token (argmax) per sequence: {}\n", fmt::join(next_token, " "));
  }
  return kExitOk;
}

}  // namespace

void register_forward_command(cli::Commands& commands, CLI::App& app) {
  auto a = std::make_shared<ForwardArgs>();
  CLI::App* cmd = commands.add(
      app, "forward", "Run a Hugging Face MoE checkpoint on token ids; save logits and routing (.safetensors)",
      "moesim forward --model tests/fixtures/mixtral --ids 5,17,42,3 --ids 11,64 --out logits.safetensors",
      [a]() { return run_forward(*a); });
  cmd->add_option("--model", a->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--ids", a->ids, "Comma-separated token ids of one sequence; repeat for a batch")->required();
  cmd->add_option("-o,--out", a->out, "Output .safetensors: input_ids, attention_mask, logits, expert_ids.L, gates.L")
      ->required();
  cmd->add_option("--device", a->device, "cpu | cuda | cuda:N | cuda:0,cuda:1,... (layers split over the devices in consecutive blocks) | auto (layers fill each GPU's free memory in order, the rest on the CPU)")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float32 | bfloat16 | float16")->capture_default_str();
  cmd->add_option("--mxfp4", a->mxfp4, kMxfp4OptionHelp)->capture_default_str();
  cli::add_json_flag(cmd, a->json);
}

}  // namespace moesim::model
