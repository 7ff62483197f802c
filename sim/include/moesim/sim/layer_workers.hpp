#pragma once
// Worker threads for a trace replay (--threads N): every (step, layer) block is an independent
// simulation (dispatch, compute, combine; the fluid engine starts each at its own clock 0), so N
// threads replay N blocks at a time, each with its own FlowNetwork (its own fluid solver, routes
// and all-to-all cache) over the one SimGrid platform, read-only. The caller (the trace reader: HDF5
// stays on one thread) submits blocks in (step, layer) order; results are put together in that
// order, so every row and every sum is what one thread would have produced, bit for bit.
//
// Memory is bounded: at most 2 x N blocks are in flight (queued, simulated, or waiting to be put
// in order); submit() waits while that many are.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "moesim/sim/flow_network.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/sim/replay_result.hpp"

namespace moesim::sim {

// Throws InputError unless `threads` is 1..kMaxThreads, and 1 with the SimGrid engine (one
// process-wide clock: its layers cannot be simulated apart).
void check_thread_count(int threads, NetworkEngine engine);

class LayerWorkers {
 public:
  // options.threads workers; the fluid engine only (SimGrid has one process-wide clock).
  LayerWorkers(const FlowNetwork& net, int gpus, const ReplayOptions& options);
  ~LayerWorkers();  // stops the workers (blocks not yet started are dropped) and joins them
  LayerWorkers(const LayerWorkers&) = delete;
  LayerWorkers& operator=(const LayerWorkers&) = delete;

  // The result the blocks are put together into: its settings may be filled in before finish().
  ReplayResult& result() { return result_; }
  // The next block in (step, layer) order. Rethrows a worker's error.
  void submit(LayerWork&& work, const LayerTrafficTotals& traffic);
  // Waits for every submitted block and returns the result. Rethrows a worker's error.
  ReplayResult finish();

 private:
  struct Block {
    std::uint64_t order = 0;
    LayerWork work;
    LayerTrafficTotals traffic;
  };
  struct Done {
    ReplayResult rows;
    LayerTrafficTotals traffic;
  };
  struct Worker {
    std::unique_ptr<FlowNetwork> net;
    std::unique_ptr<ReplayEngine> engine;
  };

  void start_threads();
  void work(Worker& w);
  void put_done_in_order(std::unique_lock<std::mutex>& lock);
  void rethrow_error() const;
  void stop();

  const std::size_t max_in_flight_;
  ReplayResult result_;
  std::vector<Worker> workers_;
  std::vector<std::thread> threads_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable block_ready_, block_done_;
  std::queue<Block> queued_;
  std::map<std::uint64_t, Done> done_;  // simulated, waiting for the blocks before them
  std::uint64_t submitted_ = 0, merged_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace moesim::sim
