// Trace input: every selected step and MoE layer of a trace v1 file becomes one LayerWork for the
// replay engine. The file is streamed one (step, layer) block at a time, so memory is bounded by one
// step's routing plus the GPUs × GPUs matrices, not by the trace.
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "moesim/common/error.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/sim/layer_workers.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/sim/simulation.hpp"
#include "moesim/traces/trace_reader.hpp"

namespace moesim::sim {

namespace {

// Tokens routed to each expert over the whole layer, dropped pairs left out: what EPLB balances.
std::vector<double> expert_loads(const traces::TraceReader& reader, int layer, int experts) {
  // Integer counts in kLanes interleaved tables: under a skewed router consecutive ids often name
  // the same hot expert, and one table makes each increment wait on the previous one's store.
  constexpr std::size_t kLanes = 4;
  const auto E = static_cast<std::size_t>(experts);
  std::vector<std::uint64_t> count(kLanes * E, 0);
  constexpr std::uint64_t kSliceTokens = 1 << 16;
  reader.for_each_id_slice(layer, kSliceTokens, [&](const traces::IdSlice& slice) {
    slice.visit([&](const auto* ids, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) {
        const auto e = static_cast<std::size_t>(ids[i]);  // < experts: the reader checked every id
        if (!slice.kept || slice.kept[i]) ++count[(i % kLanes) * E + e];
      }
    });
  });
  std::vector<double> loads(experts, 0.0);
  for (std::size_t lane = 0; lane < kLanes; ++lane)
    for (std::size_t e = 0; e < E; ++e) loads[e] += static_cast<double>(count[lane * E + e]);
  return loads;
}

Placement make_placement(const traces::TraceReader& reader, int layer, int gpus, const TraceReplayOptions& o) {
  const int experts = reader.header().num_experts;
  switch (o.placement) {
    case PlacementKind::kContiguous: return contiguous_placement(experts, gpus);
    case PlacementKind::kStrided: return strided_placement(experts, gpus);
    case PlacementKind::kFile: return load_placement(o.placement_file, experts, gpus);
    case PlacementKind::kEplb: {
      auto loads = expert_loads(reader, layer, experts);
      return eplb_placement(loads, gpus, o.redundant_experts);
    }
  }
  throw std::logic_error("unknown placement kind");
}

std::vector<int> source_gpus(const traces::TraceReader& reader, std::uint64_t step, int gpus, TokenSpread spread) {
  const auto& off = reader.step_offsets();
  std::uint64_t tokens = off[step + 1] - off[step];
  if (spread == TokenSpread::kEven) return spread_evenly(tokens, gpus);
  auto block = reader.read_tokens(off[step], off[step + 1]);
  return spread_by_sequence(block.sequence_id, gpus);
}

LayerTrafficTotals traffic_totals(const LayerTraffic& lt) {
  return {static_cast<double>(lt.tokens), static_cast<double>(lt.assignments), lt.token_copies.total_bytes()};
}

// One thread: each block simulated as it is read.
ReplayResult replay_in_order(const std::filesystem::path& trace, FlowNetwork& net, const TraceReplayOptions& topt,
                             const ReplayOptions& options, int node_once_gpus_per_node) {
  ReplayEngine engine(net, net.gpus(), options);
  for_each_trace_layer(trace, net.gpus(), topt, options, node_once_gpus_per_node, engine.result().settings,
                       [&](LayerWork& w, const LayerTraffic& lt) {
                         engine.replay_layer(w);
                         add_traffic(engine.result(), traffic_totals(lt));
                       });
  return std::move(engine.result());
}

// --threads N: this thread reads, N workers simulate (layer_workers.hpp); the same result.
ReplayResult replay_on_workers(const std::filesystem::path& trace, FlowNetwork& net, const TraceReplayOptions& topt,
                               const ReplayOptions& options, int node_once_gpus_per_node) {
  LayerWorkers workers(net, net.gpus(), options);
  for_each_trace_layer(trace, net.gpus(), topt, options, node_once_gpus_per_node, workers.result().settings,
                       [&](LayerWork& w, const LayerTraffic& lt) { workers.submit(std::move(w), traffic_totals(lt)); });
  return workers.finish();
}

}  // namespace

PlacementKind parse_placement(const std::string& text) {
  for (PlacementKind kind : {PlacementKind::kContiguous, PlacementKind::kStrided, PlacementKind::kEplb})
    if (text == to_string(kind)) return kind;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(text, ec))
    throw InputError(fmt::format("--placement {}: neither a built-in placement (contiguous, strided, eplb) nor a "
                                 "placement file (.json/.csv) that exists",
                                 text));
  return PlacementKind::kFile;
}

const char* to_string(PlacementKind kind) {
  switch (kind) {
    case PlacementKind::kContiguous: return "contiguous";
    case PlacementKind::kStrided: return "strided";
    case PlacementKind::kEplb: return "eplb";
    case PlacementKind::kFile: return "file";
  }
  return "?";
}

ReplayResult replay_trace(const std::filesystem::path& trace, const PlatformSource& platform,
                          const TraceReplayOptions& topt, const ReplayOptions& options) {
  check_thread_count(options.threads, options.engine);  // before the simulation process starts
  {
    traces::TraceReader probe(trace);  // a bad file is reported before any simulation starts
    const auto& h = probe.header();
    for (int l : topt.layers)
      if (l < 0 || l >= h.num_layers)
        throw InputError(located(trace, fmt::format("layer {} does not exist (the trace has MoE layers 0..{})", l,
                                                    h.num_layers - 1)));
    if (topt.dispatch_bytes_per_token <= 0 && h.hidden_size <= 0)
      throw InputError(located(trace, "hidden_size is 0: give --dispatch-bytes and --combine-bytes"));
  }
  return run_simulation(platform, topt.ep_gpus, [&](FlowNetwork& net) {
    // Once-per-node copies (deepep's RDMA stage) only for an algorithm that reads them.
    const int node_once_gpus_per_node =
        options.algorithm->needs_token_routing ? std::max(1, net.platform().gpus_per_node) : 0;
    return options.threads > 1 ? replay_on_workers(trace, net, topt, options, node_once_gpus_per_node)
                               : replay_in_order(trace, net, topt, options, node_once_gpus_per_node);
  });
}

void for_each_trace_layer(const std::filesystem::path& trace, int gpus, const TraceReplayOptions& topt,
                          const ReplayOptions& options, int node_once_gpus_per_node, ResolvedSettings& settings,
                          const std::function<void(LayerWork&, const LayerTraffic&)>& fn) {
  traces::TraceReader reader(trace);
  const auto& h = reader.header();
  std::vector<int> layers = topt.layers;
  if (layers.empty())
    for (int l = 0; l < h.num_layers; ++l) layers.push_back(l);
  std::uint64_t steps = h.num_steps;
  if (topt.max_steps > 0) steps = std::min(steps, topt.max_steps);
  // FP8 dispatch and BF16 combine (DeepSeek-V3 / DeepEP) unless told otherwise.
  double dispatch_bpt = topt.dispatch_bytes_per_token > 0 ? topt.dispatch_bytes_per_token : h.hidden_size * 1.0;
  double combine_bpt = topt.combine_bytes_per_token > 0 ? topt.combine_bytes_per_token : h.hidden_size * 2.0;

  std::vector<Placement> placement;
  for (int l = 0; l < h.num_layers; ++l)
    placement.push_back(std::find(layers.begin(), layers.end(), l) != layers.end()
                            ? make_placement(reader, l, gpus, topt)
                            : Placement{});

  std::optional<NodeLayout> nodes;
  if (node_once_gpus_per_node > 0) nodes = NodeLayout{node_once_gpus_per_node};

  settings.dispatch_bytes_per_token = dispatch_bpt;
  settings.combine_bytes_per_token = combine_bpt;
  settings.hidden_size = h.hidden_size;
  settings.placement = topt.placement == PlacementKind::kFile ? topt.placement_file.string() : to_string(topt.placement);
  if (topt.placement == PlacementKind::kEplb) settings.placement += fmt::format(" ({} redundant experts)", topt.redundant_experts);
  Progress progress("replay", steps * layers.size(), "layers", options.progress);
  traces::LayerBlock block;  // one buffer for every layer read
  for (std::uint64_t step = 0; step < steps; ++step) {
    auto src = source_gpus(reader, step, gpus, topt.spread);
    if (src.empty()) continue;
    for (int layer : layers) {
      // The kept mask (format 1.1) leaves out pairs the routing strategy dropped.
      reader.read_step_into(layer, step, traces::ReadWhat{.gates = false, .router_probs = false, .kept = true}, block);
      const Placement& p = placement[layer];
      auto lt = build_layer_traffic(block.expert_ids, block.top_k, src, p, topt.dedup,
                                    fmt::format("{}: step {} layer {}", trace.string(), step, layer), block.kept,
                                    nodes ? &*nodes : nullptr);
      LayerWork w;
      w.step = static_cast<int>(step);
      w.layer = layer;
      w.dispatch = lt.token_copies.scaled(dispatch_bpt);
      w.combine = lt.token_copies.transposed().scaled(combine_bpt);
      if (nodes) {
        w.dispatch_node_once = lt.node_once_copies.scaled(dispatch_bpt);
        w.combine_node_once = lt.node_once_copies.transposed().scaled(combine_bpt);
      }
      if (options.flops_per_token > 0 && options.gpu_flops > 0) {
        w.compute_s = lt.tokens_on_gpu(p);
        for (double& t : w.compute_s) t *= options.flops_per_token / options.gpu_flops;
      }
      w.experts_by_gpu.resize(gpus);
      for (int e = 0; e < p.num_experts; ++e)
        for (std::size_t r = 0; r < p.replicas[e].size(); ++r)
          w.experts_by_gpu[p.replicas[e][r].gpu].push_back({e, lt.replica_tokens[e][r]});
      fn(w, lt);
      progress.advance();
    }
  }
  progress.finish();
}

}  // namespace moesim::sim
