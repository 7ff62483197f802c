// moesim replay: a trace or a traffic matrix + a platform → per-GPU all-to-all times and summaries.
#include "moesim/sim/commands.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>

#include "moesim/common/error.hpp"
#include "moesim/sim/ep_groups.hpp"
#include "moesim/sim/layer_workers.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/sim/start_offsets.hpp"
#include "moesim/sim/summary.hpp"

namespace moesim::sim {

namespace {

// --fluid-merge's ceiling: beyond a tenth of the elapsed time the merged events say little.
constexpr double kMaxFluidMerge = 0.1;

struct ReplayArgs {
  std::string trace, matrix, platform, placement = "contiguous", spread = "even", matrix_unit = "bytes", out;
  std::string algorithm = "direct", engine = "simgrid", start_offsets, ep_layout = "packed";
  CLI::Option* placement_option = nullptr;  // to tell a --placement given from its default
  int gpus = 0, redundant = 0, ep_size = 0;
  double dispatch_bytes = 0, combine_bytes = 0, launch_us = 0, overhead_us = 0, flops_per_token = 0, gpu_tflops = 0;
  std::vector<int> layers;
  std::uint64_t steps = 0;
  bool no_dedup = false, no_balanced = false, no_reuse = false, json = false, quiet = false, write_matrix = false;
  ReplayOptions options;
};

nlohmann::json config_json(const ReplayArgs& a) {
  nlohmann::json j = {{"trace", a.trace},
          {"matrix", a.matrix},
          {"matrix_unit", a.matrix_unit},
          {"platform", a.platform},
          {"gpus", a.gpus},
          {"algorithm", a.algorithm},
          {"engine", a.engine},
          {"placement", a.placement},
          {"redundant_experts", a.redundant},
          {"spread", a.spread},
          {"dispatch_bytes_per_token", a.dispatch_bytes},
          {"combine_bytes_per_token", a.combine_bytes},
          {"dedup", !a.no_dedup},
          {"launch_latency_s", a.options.a2a.launch_latency_s},
          {"per_message_overhead_s", a.options.a2a.per_message_overhead_s},
          {"flops_per_token", a.options.flops_per_token},
          {"gpu_flops", a.options.gpu_flops},
          {"layers", a.layers},
          {"max_steps", a.steps},
          {"balanced_reference", a.options.balanced_reference}};
  // Only when given, as start_offsets.
  if (a.options.fluid_merge > 0) j["fluid_merge"] = a.options.fluid_merge;
  // Only when given: a folder written before --start-offsets existed keeps the same configuration.
  if (!a.start_offsets.empty()) j["start_offsets"] = a.start_offsets;
  if (a.ep_size > 0) {
    j["ep_size"] = a.ep_size;
    j["ep_layout"] = a.ep_layout;
  }
  if (a.write_matrix) j["write_matrix"] = true;
  return j;
}

ReplayResult run_matrix(const ReplayArgs& a, const PlatformSource& platform) {
  cli::require_file(a.matrix);
  MatrixUnit unit = a.matrix_unit == "tokens" ? MatrixUnit::kTokens : MatrixUnit::kBytes;
  if (unit == MatrixUnit::kTokens && a.dispatch_bytes <= 0)
    throw InputError("--matrix-unit tokens needs --dispatch-bytes (bytes per token)");
  auto m = load_traffic_matrix(a.matrix, unit, a.dispatch_bytes);
  // Combine carries the same tokens back, at the combine width when one is given.
  double combine_scale = (a.combine_bytes > 0 && a.dispatch_bytes > 0) ? a.combine_bytes / a.dispatch_bytes : 1.0;
  ReplayResult r = replay_matrix(m, combine_scale, platform, a.gpus > 0 ? a.gpus : m.gpus, a.options);
  if (unit == MatrixUnit::kTokens) {  // a matrix in bytes has no per-token width
    r.settings.dispatch_bytes_per_token = a.dispatch_bytes;
    r.settings.combine_bytes_per_token = a.dispatch_bytes * combine_scale;
  }
  return r;
}

TraceReplayOptions trace_options(const ReplayArgs& a) {
  TraceReplayOptions t;
  t.ep_gpus = a.gpus;
  t.placement = parse_placement(a.placement);
  if (t.placement == PlacementKind::kFile) t.placement_file = a.placement;
  t.redundant_experts = a.redundant;
  t.spread = a.spread == "sequence" ? TokenSpread::kSequence : TokenSpread::kEven;
  t.dispatch_bytes_per_token = a.dispatch_bytes;
  t.combine_bytes_per_token = a.combine_bytes;
  t.dedup = !a.no_dedup;
  t.layers = a.layers;
  t.max_steps = a.steps;
  return t;
}

ReplayResult run_trace(const ReplayArgs& a, const PlatformSource& platform) {
  cli::require_file(a.trace);
  TraceReplayOptions t = trace_options(a);
  return replay_trace(a.trace, platform, t, a.options);
}

// --ep-size: the platform's GPUs (or --gpus of them) as concurrent EP groups (ep_groups.hpp).
int run_ep_groups(const ReplayArgs& a, const PlatformSource& platform) {
  if (a.trace.empty()) throw InputError("--ep-size replays a trace (--trace): each group replays its layers");
  cli::require_file(a.trace);
  if (!a.out.empty()) check_outputs(a.out, config_json(a));  // before the replay, not after it
  TraceReplayOptions t = trace_options(a);
  EpGroupsOptions g;
  g.ep_size = a.ep_size;
  g.layout = parse_ep_layout(a.ep_layout);
  EpGroupsResult r = replay_ep_groups(a.trace, platform, t, a.options, g);
  if (r.settings.nominal_platform && !a.quiet)
    std::cerr << fmt::format("note: platform '{}' is nominal (datasheet figures, not calibrated on measurements); "
                             "see platforms/README.md, \"Calibrating a platform\"\n",
                             r.platform);
  if (!a.out.empty()) write_ep_group_outputs(a.out, r, config_json(a));
  if (a.json) {
    auto j = to_json(r);
    j["config"] = config_json(a);
    cli::print_json(j);
  } else {
    std::cout << human_report(r);
    if (!a.out.empty()) std::cout << fmt::format("wrote {0}/groups.csv, {0}/summary.json\n", a.out);
  }
  return kExitOk;
}

// --threads N > 1 replays a trace's (step, layer) blocks apart: refused where that is not possible
// (SimGrid's one clock) or where there is one simulation only (a matrix, EP groups).
void check_threads(const ReplayArgs& a) {
  check_thread_count(a.options.threads, a.options.engine);
  if (a.options.threads == 1) return;
  if (!a.matrix.empty())
    throw InputError(fmt::format("--threads {} parallelises a trace's (step, layer) blocks: a --matrix is one "
                                 "simulation (use --threads 1)",
                                 a.options.threads));
  if (a.ep_size > 0)
    throw InputError(fmt::format("--threads {} parallelises a trace's (step, layer) blocks: --ep-size runs every group "
                                 "in one simulation (use --threads 1)",
                                 a.options.threads));
}

int run_replay(ReplayArgs& a, bool placement_given) {
  // Names become their parsed forms here, once: a typo fails before any file is read or process forked.
  a.options.algorithm = &find_algorithm(a.algorithm);
  a.options.engine = parse_network_engine(a.engine);
  if (!a.matrix.empty() && a.options.algorithm->needs_token_routing)
    throw InputError(fmt::format("--algorithm {} needs token-level routing (--trace): a GPU × GPU matrix does not say "
                                 "which tokens share a destination node",
                                 a.algorithm));
  if (a.no_dedup && a.options.algorithm->needs_token_routing)
    throw InputError(fmt::format("--no-dedup contradicts --algorithm {}: it sends a token once per node and once per GPU",
                                 a.algorithm));
  if (!a.matrix.empty() && placement_given)
    throw InputError("--placement applies to a trace: a traffic matrix already says which GPU sends what to which");
  a.options.a2a.launch_latency_s = a.launch_us * 1e-6;
  a.options.a2a.per_message_overhead_s = a.overhead_us * 1e-6;
  a.options.gpu_flops = a.gpu_tflops * 1e12;
  a.options.balanced_reference = !a.no_balanced;
  a.options.reuse_identical = !a.no_reuse;
  a.options.progress = !a.quiet && !a.json;
  if (!a.start_offsets.empty()) a.options.start_offsets = parse_start_offsets(a.start_offsets);
  if (a.options.fluid_merge > 0 && a.options.engine != NetworkEngine::kFluid)
    throw InputError("--fluid-merge approximates the fluid engine: add --engine fluid");
  check_threads(a);
  if (a.write_matrix && a.out.empty())
    throw InputError("--write-matrix writes matrices.h5 and matrices.csv into the --out folder: give --out");
  a.options.keep_matrices = a.write_matrix;
  if (a.options.flops_per_token > 0 && a.options.gpu_flops <= 0)
    throw InputError("--flops-per-token needs --gpu-tflops (the GPU's achieved rate)");
  PlatformSource platform = topologies::parse_platform_source(a.platform);
  if (!platform.spec && platform.text.find('/') != std::string::npos) cli::require_file(platform.text);
  if (a.ep_size > 0) return run_ep_groups(a, platform);
  if (!a.out.empty()) check_outputs(a.out, config_json(a));  // before the replay, not after it
  ReplayResult r = a.matrix.empty() ? run_trace(a, platform) : run_matrix(a, platform);
  ReplaySummary s = summarize(r);
  // One line, on stderr so that --json stays one JSON document: a nominal platform's times are
  // datasheet figures (about 2x optimistic against NCCL on the demo), not predictions.
  if (r.settings.nominal_platform && !a.quiet)
    std::cerr << fmt::format("note: platform '{}' is nominal (datasheet figures, not calibrated on measurements); "
                             "see platforms/README.md, \"Calibrating a platform\"\n",
                             r.platform);
  if (!a.out.empty()) write_outputs(a.out, r, s, config_json(a));
  if (a.json) {
    auto j = to_json(s, r);
    j["config"] = config_json(a);
    cli::print_json(j);
  } else {
    std::cout << human_report(s, r);
    if (!a.out.empty())
      std::cout << fmt::format("wrote {0}/replay.h5, {0}/a2a.csv, {0}/summary.json{1}\n", a.out,
                               a.write_matrix ? fmt::format(", {0}/matrices.h5, {0}/matrices.csv", a.out) : "");
  }
  return kExitOk;
}

std::string algorithm_help() {
  std::string h = "All-to-all algorithm:";
  for (const auto& alg : all_algorithms()) h += fmt::format("\n  {}: {}", alg.name, alg.description);
  return h;
}

}  // namespace

void register_commands(cli::Commands& commands, CLI::App& app) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = commands.add(
      app, "replay", "Replay a routing trace or a traffic matrix as dispatch/combine all-to-alls on a platform",
      "moesim replay --trace t.h5 --platform rail-optimized-64 --algorithm hierarchical --placement eplb "
      "--redundant-experts 64 --out results/\n  moesim replay --matrix m.csv --matrix-unit tokens --dispatch-bytes 7168 "
      "--platform switch:8\n  moesim replay --matrix m1024.csv --platform switch:1024 --engine fluid\n  moesim replay --trace t.h5 "
      "--platform fat-tree-256 --engine fluid --threads 4 --json",
      [args] { return run_replay(*args, args->placement_option && args->placement_option->count() > 0); });
  auto* trace = cmd->add_option("--trace", args->trace, "Routing trace (format v1, .h5)");
  auto* matrix = cmd->add_option("--matrix", args->matrix, "Traffic matrix (.csv or .json): rows = source GPU, columns = destination");
  trace->excludes(matrix);
  cmd->add_option("--platform", args->platform,
                  "Platform: a YAML or SimGrid XML file, a preset name (platforms/), switch:GPUS[:LINK_Bps[:LATENCY_s]] "
                  "or cluster:NODES:GPUS_PER_NODE")
      ->required();
  cmd->add_option("--gpus", args->gpus, "Expert-parallel degree (default: every GPU of the platform; a matrix: its size)")
      ->check(cli::positive<int>())
      ->check(CLI::Range(1, static_cast<int>(topologies::kMaxPlatformGpus)));
  cmd->add_option("--algorithm", args->algorithm, algorithm_help())->capture_default_str();
  cmd->add_option("--engine", args->engine,
                  "Network engine: simgrid (one SimGrid comm per flow, the reference) or fluid (the same CM02 max-min "
                  "sharing over SimGrid's routes, solved in arrays: 1000s of GPUs)")
      ->check(CLI::IsMember({"simgrid", "fluid"}))
      ->capture_default_str();
  cmd->add_option("--fluid-merge", args->options.fluid_merge,
                  "Approximate mode of --engine fluid (never the default): completions within REL x the elapsed time "
                  "are one event. 0 = exact; 1e-2 measured within 1 % of exact on P99 and layer time (sim/README.md)")
      ->check(cli::non_negative<double>())
      ->check(CLI::Range(0.0, kMaxFluidMerge))
      ->capture_default_str();
  cmd->add_option("--threads", args->options.threads,
                  fmt::format("Worker threads simulating a trace's (step, layer) blocks at the same time, each with its "
                              "own fluid solver (--engine fluid; 1..{}). Results are identical bit for bit whatever "
                              "the count; > 1 is refused with --engine simgrid, --matrix and --ep-size (one "
                              "simulation each)",
                              kMaxThreads))
      ->check(cli::positive<int>())
      ->check(CLI::Range(1, kMaxThreads))
      ->capture_default_str();
  cmd->add_option("--ep-size", args->ep_size,
                  "Whole cluster: split the platform's GPUs (or --gpus of them) into EP groups of this many GPUs that "
                  "run their all-to-alls at the same time; each group replays the trace (group k rotated by k), "
                  "reported per group and against group 0 alone (direct only; sim/README.md)")
      ->check(cli::positive<int>())
      ->check(CLI::Range(1, static_cast<int>(topologies::kMaxPlatformGpus)));
  cmd->add_option("--ep-layout", args->ep_layout,
                  "With --ep-size: packed (group = consecutive GPUs: whole nodes, racks) or spread (one GPU per node, "
                  "group 0 on every node's GPU 0: one rail)")
      ->check(CLI::IsMember({"packed", "spread"}))
      ->capture_default_str();
  args->placement_option = cmd->add_option("--placement", args->placement,
                                           "Trace input: contiguous, strided, eplb, or a placement file (.json/.csv)")
      ->capture_default_str();
  cmd->add_option("--redundant-experts", args->redundant, "EPLB: extra expert replicas in total (E + R divisible by GPUs)")
      ->check(cli::non_negative<int>())
      ->check(CLI::Range(0, 1'000'000));
  cmd->add_option("--spread", args->spread, "How a step's tokens start on GPUs: even (batch split) or sequence")
      ->check(CLI::IsMember({"even", "sequence"}))
      ->capture_default_str();
  cmd->add_option("--dispatch-bytes", args->dispatch_bytes, "Bytes per token dispatched (default hidden size × 1, FP8)")
      ->check(cli::byte_count());
  cmd->add_option("--combine-bytes", args->combine_bytes, "Bytes per token combined (default hidden size × 2, BF16)")
      ->check(cli::byte_count());
  cmd->add_flag("--no-dedup", args->no_dedup, "Send a token once per expert, even to experts on the same GPU (default: once per GPU, as DeepEP)");
  cmd->add_option("--matrix-unit", args->matrix_unit, "Unit of the matrix entries: bytes or tokens")
      ->check(CLI::IsMember({"bytes", "tokens"}))
      ->capture_default_str();
  cmd->add_option("--flops-per-token", args->options.flops_per_token,
                  "Expert FLOPs per (token, expert); enables compute between dispatch and combine")
      ->check(cli::non_negative<double>());
  cmd->add_option("--gpu-tflops", args->gpu_tflops, "Achieved TFLOP/s of one GPU for expert compute")->check(cli::non_negative<double>());
  cmd->add_option("--launch-us", args->launch_us, "Launch latency of each all-to-all, microseconds")->check(cli::non_negative<double>());
  cmd->add_option("--overhead-us", args->overhead_us, "Software overhead per message, microseconds")->check(cli::non_negative<double>());
  cmd->add_option("--start-offsets", args->start_offsets,
                  "When each GPU starts its dispatch: a file of microseconds, one per GPU, or uniform:MAX_US[:SEED] "
                  "(default: all at 0). Each GPU's times still count from its own start");
  cmd->add_option("--layers", args->layers, "MoE layers to replay (file indices; default all)")->delimiter(',');
  cmd->add_option("--steps", args->steps, "Replay at most this many steps (default all)")
      ->check(cli::non_negative<std::uint64_t>());
  cmd->add_flag("--no-balanced", args->no_balanced, "Skip the balanced reference (halves the simulations)");
  cmd->add_flag("--no-reuse", args->no_reuse, "Simulate identical all-to-alls again instead of reusing the first result");
  cmd->add_option("--out", args->out,
                  "Directory for replay.h5 (every row), a2a.csv and summary.json (with --ep-size: groups.csv and "
                  "summary.json), replaced as a whole");
  cmd->add_flag("--write-matrix", args->write_matrix,
                "Also write every (step, layer)'s GPU x GPU dispatch and combine bytes into --out: matrices.h5 "
                "([layers, gpus, gpus]) and matrices.csv (step,layer,phase,src,dst,bytes; non-zero entries)");
  cli::add_json_flag(cmd, args->json);
  cli::add_quiet_flag(cmd, args->quiet);
  cmd->callback([trace, matrix] {
    if (trace->count() == 0 && matrix->count() == 0) throw CLI::RequiredError("--trace or --matrix");
  });
  register_calibrate_command(commands, app);
}

}  // namespace moesim::sim
