// Capture throughput on a random Mixtral-shaped checkpoint, and the expert dispatch measured
// against the per-token loop it replaces. Not a test: prints figures and ratios.
//
//   model_bench [hidden] [layers] [experts] [tokens] [device] [dtype]
//   model_bench 512 4 8 8192 cpu float32
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "../src/layers.hpp"
#include "moesim/model/capture.hpp"
#include "moesim/model/model.hpp"
#include "moesim/model/random_checkpoint.hpp"

using namespace moesim::model;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The expert step done token by token (what "no per-token loops" rules out), for the ratio.
static at::Tensor per_token_experts(const at::Tensor& x, const layers::Routing& r, const layers::ExpertWeights& w) {
  at::Tensor out = at::zeros_like(x);
  auto ids = r.expert_ids.to(at::kCPU);
  for (int64_t t = 0; t < x.size(0); ++t)
    for (int64_t j = 0; j < ids.size(1); ++j) {
      int64_t e = ids[t][j].item<int64_t>();
      at::Tensor xt = x[t];
      at::Tensor h = at::silu(at::matmul(w.gate[e], xt)) * at::matmul(w.up[e], xt);
      out[t] += r.gates[t][j] * at::matmul(w.down[e], h);
    }
  return out;
}

int main(int argc, char** argv) {
  const int hidden = argc > 1 ? std::atoi(argv[1]) : 512;
  const int layers_n = argc > 2 ? std::atoi(argv[2]) : 4;
  const int experts = argc > 3 ? std::atoi(argv[3]) : 8;
  const std::uint64_t tokens = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 8192;
  const std::string device = argc > 5 ? argv[5] : "cpu";
  const std::string dtype = argc > 6 ? argv[6] : "float32";

  const auto dir = std::filesystem::temp_directory_path() / fmt::format("moesim_bench_{}", ::getpid());
  RandomMixtralSpec spec{.vocab_size = 32000, .hidden_size = hidden, .intermediate_size = 2 * hidden,
                         .num_layers = layers_n, .num_heads = std::max(1, hidden / 64), .num_kv_heads = std::max(1, hidden / 256),
                         .num_experts = experts, .top_k = 2, .dtype = dtype};
  write_random_mixtral(dir, spec);
  auto model = MoeModel::load(dir, {device, dtype});

  CaptureOptions o;
  o.model_dir = dir;
  std::mt19937 rng(1);
  for (std::uint64_t i = 0; i < tokens; ++i) o.token_ids.push_back(static_cast<std::int32_t>(rng() % spec.vocab_size));
  o.batch = 8;
  o.seq_len = 256;
  o.out = dir / "trace.h5";
  capture_trace(*model, {o.model_dir, {o.token_ids.begin(), o.token_ids.begin() + 2048}, "warmup", "none", 0, 8, 256,
                         {device, dtype}, false, dir / "warm.h5", ""});
  CaptureSummary s = capture_trace(*model, o);
  fmt::print("capture: hidden {} layers {} experts {} top-2, batch {} x seq {}, {} {}: {} tokens in {:.2f} s = {:.0f} tokens/s\n",
             hidden, layers_n, experts, o.batch, o.seq_len, device, dtype, s.tokens, s.seconds, s.tokens_per_s());

  c10::InferenceMode guard;
  const int64_t T = 512;
  at::manual_seed(3);
  at::Tensor x = at::randn({T, hidden});
  layers::ExpertWeights w{at::randn({experts, 2 * hidden, hidden}), at::randn({experts, 2 * hidden, hidden}),
                          at::randn({experts, hidden, 2 * hidden})};
  auto routing = layers::softmax_topk(at::randn({T, experts}), 2, true);
  auto t0 = Clock::now();
  at::Tensor fast = layers::moe_experts(x, routing, w);
  double fast_s = seconds_since(t0);
  t0 = Clock::now();
  at::Tensor slow = per_token_experts(x, routing, w);
  double slow_s = seconds_since(t0);
  fmt::print("expert dispatch, {} tokens, CPU float32: sorted blocks {:.4f} s, per-token loop {:.4f} s, speed-up {:.1f}x "
             "(max |diff| {:.2e})\n",
             T, fast_s, slow_s, slow_s / fast_s, (fast - slow).abs().max().item<float>());
  std::filesystem::remove_all(dir);
}
