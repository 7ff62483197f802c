#pragma once
// What a replay produces, row by row: per (step, layer, phase, GPU) when the GPU started and
// finished, per all-to-all and per layer their time, balanced reference and bound, and the settings
// that were resolved (bytes per token, GPUs, placement, engine, calibration). The definitions of
// every time are written once, in sim/README.md ("Definitions"); this file only stores them.
//
// Plain trivially copyable rows: a result crosses the simulation process boundary as bytes
// (serialize / deserialize_result below).
#include <cstdint>
#include <string>
#include <vector>

namespace moesim::sim {

enum class Phase : std::int32_t { kDispatch = 0, kCombine = 1 };
const char* to_string(Phase p);

// Per (step, layer, phase, GPU). Times are relative to the layer's start.
struct GpuRow {
  std::int32_t step = 0, layer = 0, phase = 0, gpu = 0;
  double start_s = 0;   // the GPU's own start of the phase: dispatch its start offset (0 unless
                        // --start-offsets), combine when
                        // its dispatch is done and its experts have computed
  double finish_s = 0;  // when it had sent and received everything
  double bytes_out = 0, bytes_in = 0;  // over the network (its own diagonal excluded)

  double time_s() const { return finish_s - start_s; }  // the GPU's phase time
  bool operator==(const GpuRow&) const = default;
};

inline constexpr int kTopExperts = 3;

// Per all-to-all (one phase of one layer).
struct A2ARow {
  std::int32_t step = 0, layer = 0, phase = 0;
  std::int32_t straggler_gpu = -1;      // the straggler reported (see sim/README.md, Stragglers)
  std::int32_t straggler_receives = 0;  // 1: its incoming bytes bind it more than its outgoing ones
  std::int32_t stragglers = 0;          // GPUs finishing within 1e-9 relative of the last finish
  std::int32_t top_expert[kTopExperts] = {-1, -1, -1};  // experts on the straggler GPU, most tokens first
  // Explicit, zeroed: serialize() copies rows as bytes (the simulation process -> its parent), and
  // implicit padding would carry indeterminate bytes, making equal results serialize differently.
  std::int32_t unused_padding = 0;
  double top_expert_tokens[kTopExperts] = {0, 0, 0};
  double time_s = 0;        // the largest per-GPU phase time (finish - own start)
  double balanced_s = 0;    // the same network bytes spread evenly, simulated (0 if disabled)
  double bound_s = 0;       // lower bound on the largest per-GPU phase time
  double network_bytes = 0;
  double max_bytes_in = 0, max_bytes_out = 0;
  bool operator==(const A2ARow&) const = default;
};
static_assert(sizeof(A2ARow) == 10 * sizeof(std::int32_t) + (kTopExperts + 6) * sizeof(double),
              "A2ARow has implicit padding: make it an explicit member (see unused_padding)");
static_assert(sizeof(GpuRow) == 4 * sizeof(std::int32_t) + 4 * sizeof(double), "GpuRow has implicit padding");

// Per layer (step, layer): first dispatch start -> last combine finish, compute included.
struct LayerRow {
  std::int32_t step = 0, layer = 0;
  double time_s = 0;
  double balanced_s = 0;  // balanced dispatch + mean compute + balanced combine (0 if disabled)
  double bound_s = 0;     // max over GPUs of its dispatch bound + compute + combine bound
  double compute_max_s = 0;  // the slowest GPU's expert compute
  bool operator==(const LayerRow&) const = default;
};
static_assert(sizeof(LayerRow) == 2 * sizeof(std::int32_t) + 4 * sizeof(double), "LayerRow has implicit padding");

// Settings as the replay resolved them (defaults filled in), so that every output says what it used.
struct ResolvedSettings {
  double dispatch_bytes_per_token = 0;  // 0 for matrix input in bytes
  double combine_bytes_per_token = 0;
  int hidden_size = 0;                  // from the trace; 0 for matrix input
  std::string placement;                // contiguous, strided, eplb, a file, or "matrix"
  std::string calibration;              // the platform's calibration, or "nominal (no calibration)"
  bool nominal_platform = true;         // the platform's figures are datasheet values, not measured
  std::string start_offsets;            // --start-offsets as given; empty = every GPU starts at 0
  bool local_copy = false;              // the diagonal moved on each GPU's copy link (node.local_copy_bandwidth)
  double fluid_merge = 0;               // > 0: the fluid engine's approximate mode (--fluid-merge), 0 = exact
  int threads = 1;                      // worker threads that simulated the layers (--threads); no effect on results
  bool operator==(const ResolvedSettings&) const = default;
};

struct ReplayResult {
  std::string platform;
  std::string algorithm;
  std::string engine;
  int gpus = 0;
  ResolvedSettings settings;
  std::vector<GpuRow> gpu_rows;  // (instance, GPU) in order: gpus rows per all-to-all
  std::vector<A2ARow> a2a_rows;  // dispatch, combine, dispatch, combine, ...
  std::vector<LayerRow> layer_rows;  // one per (step, layer)
  std::uint64_t flows_simulated = 0;
  std::uint64_t a2a_simulated = 0;  // including balanced references
  std::uint64_t a2a_reused = 0;     // answered from an identical earlier all-to-all
  double tokens = 0, assignments = 0;           // replayed (trace input)
  double token_copies_sent = 0;                 // after dedup, network and local
  double dispatch_bytes_total = 0;              // including data that stays on its GPU
  double sim_cpu_s = 0;                         // CPU time (user + system) of the simulation process
  double sim_wall_s = 0;                        // wall time of the simulation process
  double sim_peak_rss_bytes = 0;
  // replay --write-matrix: per (step, layer), in layer_rows' order, the GPU x GPU bytes of the
  // dispatch and of the combine as the replay built them (token copies x bytes per token; the
  // diagonal is the local copy), each gpus x gpus, row = source. Empty unless asked for.
  std::vector<double> dispatch_matrices, combine_matrices;
};

// A (step, layer) block's traffic counts, from the trace (ReplayResult's tokens, assignments,
// token_copies_sent).
struct LayerTrafficTotals {
  double tokens = 0, assignments = 0, token_copies_sent = 0;
};
void add_traffic(ReplayResult& r, const LayerTrafficTotals& t);

// Moves `from`'s rows (per GPU, all-to-all, layer, matrices) and counters to the end of `into`'s,
// leaving `from` with none: how layers replayed apart are put together in (step, layer) order.
void move_rows(ReplayResult& from, ReplayResult& into);

// Serialisation across the simulation process boundary.
std::string serialize(const ReplayResult& r);
ReplayResult deserialize_result(const std::string& bytes);

}  // namespace moesim::sim
