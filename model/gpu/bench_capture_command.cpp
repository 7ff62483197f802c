// moesim-gpu bench-capture: tokens/s of routing capture — the loop of `moesim capture`
// (model/src/capture_steps.cpp: forward pass without the LM head, routing rows of every MoE layer
// brought to the host) with a sink that only counts, because this build has no HDF5. Token ids
// are random (seeded) unless --ids-file is given. Compared with transformers by
// tests/bench/capture_vs_transformers.py on the same checkpoint, batch and sequence length.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/model.hpp"
#include "step_profile.hpp"

namespace moesim::model {
namespace {

constexpr double kBytesPerGB = 1e9;

struct BenchArgs {
  std::string model, device = "cuda", dtype = "bfloat16", mxfp4 = "dequantize", ids_file, profile;
  std::uint64_t tokens = 65536;
  int batch = 8, seq = 2048, warmup_steps = 2, repeats = 3;
  std::uint32_t seed = 0;
  bool json = false;
};

int run_bench(const BenchArgs& a) {
  if (a.repeats < 1 || a.warmup_steps < 0) throw InputError("--repeats must be ≥ 1 and --warmup-steps ≥ 0");
  auto load_start = std::chrono::steady_clock::now();
  auto model = MoeModel::load(a.model, {a.device, a.dtype, a.mxfp4});
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  CaptureOptions o;
  o.model_dir = a.model;
  o.batch = a.batch;
  o.seq_len = a.seq;
  if (!a.ids_file.empty()) {
    o.token_ids = read_token_ids(a.ids_file);
    if (a.tokens > 0 && o.token_ids.size() > a.tokens) o.token_ids.resize(a.tokens);
  } else {
    std::mt19937 rng(a.seed);
    std::uniform_int_distribution<std::int32_t> id(0, model->config().vocab_size - 1);
    for (std::uint64_t i = 0; i < a.tokens; ++i) o.token_ids.push_back(id(rng));
  }
  std::uint64_t rows = 0;
  auto count = [&](const CapturedStep& step) {
    for (const CapturedLayer& l : step.layers) rows += l.expert_ids.size();
  };
  if (a.warmup_steps > 0) {  // kernels chosen, allocator warm: not timed
    CaptureOptions warm = o;
    warm.max_tokens = static_cast<std::uint64_t>(a.warmup_steps) * a.batch * a.seq;
    capture_steps(*model, warm, count);
  }
  std::vector<double> rates;
  CaptureSummary s;
  for (int r = 0; r < a.repeats; ++r) {
    s = capture_steps(*model, o, count);  // each step ends with its routing on the host: synchronised
    rates.push_back(s.tokens_per_s());
  }
  if (!a.profile.empty()) {  // one more step, untimed, under the profiler
    CaptureOptions one = o;
    one.max_tokens = static_cast<std::uint64_t>(a.batch) * a.seq;
    profile_step(a.profile, [&] { capture_steps(*model, one, count); });
  }
  std::sort(rates.begin(), rates.end());
  const double median = rates[rates.size() / 2];
  const double expert_GB = static_cast<double>(model->routed_expert_bytes()) / kBytesPerGB;
  if (a.json) {
    cli::print_json({{"model", a.model}, {"device", a.device}, {"dtype", a.dtype}, {"mxfp4", a.mxfp4},
                     {"batch", a.batch}, {"seq", a.seq}, {"tokens", s.tokens}, {"moe_layers", s.moe_layers},
                     {"repeats", a.repeats}, {"tokens_per_s", rates}, {"median_tokens_per_s", median},
                     {"load_s", load_s}, {"placement", model->placement()}, {"routing_rows", rows},
                     {"routed_expert_GB", expert_GB}});
  } else {
    fmt::print("moesim capture loop: {} ({} MoE layers), {} {}, batch {} x seq {}: {} tokens, median {:.0f} tokens/s "
               "over {} repeats (load {:.2f} s; routed experts {:.2f} GB, --mxfp4 {})\n",
               a.model, s.moe_layers, a.device, a.dtype, a.batch, a.seq, s.tokens, median, a.repeats, load_s,
               expert_GB, a.mxfp4);
  }
  return kExitOk;
}

}  // namespace

void register_bench_capture_command(cli::Commands& commands, CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = commands.add(
      app, "bench-capture", "Tokens/s of the routing-capture loop (no trace file written)",
      "moesim-gpu bench-capture --model /tmp/mixtral-2048 --device cuda --dtype bfloat16 --batch 8 --seq 2048",
      [a]() { return run_bench(*a); });
  cmd->add_option("--model", a->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--ids-file", a->ids_file, "Token ids (spaces, commas or newlines); default: random ids");
  cmd->add_option("--tokens", a->tokens, "Tokens per timed pass")->capture_default_str();
  cmd->add_option("--batch", a->batch, "Sequences per step (one forward pass)")->capture_default_str();
  cmd->add_option("--seq", a->seq, "Tokens per sequence")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu | cuda | cuda:N | cuda:0,cuda:1,... | auto (layers fill each GPU's free memory in order, the rest on the CPU)")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float32 | bfloat16 | float16")->capture_default_str();
  cmd->add_option("--mxfp4", a->mxfp4, kMxfp4OptionHelp)->capture_default_str();
  cmd->add_option("--warmup-steps", a->warmup_steps, "Untimed steps first")->capture_default_str();
  cmd->add_option("--repeats", a->repeats, "Timed passes (the median is reported)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the random ids")->capture_default_str();
  cmd->add_option("--profile", a->profile,
                  "After the timed passes, one step under LibTorch's profiler, saved as a Chrome trace "
                  "(JSON) to this file; scripts/gpu/kernel_summary.py sums it by kernel");
  cli::add_json_flag(cmd, a->json);
}

}  // namespace moesim::model
