#include "moesim/sim/layer_workers.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

#include "moesim/common/error.hpp"

namespace moesim::sim {

namespace {
// Blocks in flight per worker: one being simulated, one queued behind it so that a worker never
// waits for the reader. A 1024-GPU block holds several dense 1024 x 1024 double matrices (8 MiB each).
constexpr std::size_t kBlocksInFlightPerWorker = 2;
}  // namespace

void check_thread_count(int threads, NetworkEngine engine) {
  if (threads < 1 || threads > kMaxThreads)
    throw InputError(fmt::format("--threads must be 1..{}, got {}", kMaxThreads, threads));
  if (threads > 1 && engine != NetworkEngine::kFluid)
    throw InputError(fmt::format("--threads {} needs --engine fluid: SimGrid has one process-wide clock, so its "
                                 "layers cannot be simulated apart",
                                 threads));
}

LayerWorkers::LayerWorkers(const FlowNetwork& net, int gpus, const ReplayOptions& options)
    : max_in_flight_(kBlocksInFlightPerWorker * static_cast<std::size_t>(options.threads)) {
  check_thread_count(options.threads, options.engine);
  // Every SimGrid call but route look-ups (serialised in flow_network.cpp) happens here, before any
  // thread starts: configuration, links, latency factor.
  workers_.resize(static_cast<std::size_t>(options.threads));
  for (Worker& w : workers_) {
    w.net = std::make_unique<FlowNetwork>(net.platform());
    w.engine = std::make_unique<ReplayEngine>(*w.net, gpus, options);
  }
  result_ = workers_.front().engine->result();  // the header: platform, engine, settings; no rows yet
}

// At the first block, not in the constructor: opening the trace forks a checking child
// (traces/src/trace_reader.cpp, run_isolated), and a fork while other threads run can leave the
// child holding a lock one of them had (seen under ASan: the child hung until its 120 s limit).
// The reader opens the trace before it hands over the first block, so no fork meets a worker.
void LayerWorkers::start_threads() {
  threads_.reserve(workers_.size());
  try {
    for (Worker& w : workers_) threads_.emplace_back([this, &w] { work(w); });
  } catch (...) {
    stop();
    throw;
  }
}

LayerWorkers::~LayerWorkers() { stop(); }

void LayerWorkers::stop() {
  {
    const std::scoped_lock lock(mutex_);
    stopping_ = true;
  }
  block_ready_.notify_all();
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
}

void LayerWorkers::work(Worker& w) {
  while (true) {
    Block block;
    {
      std::unique_lock lock(mutex_);
      block_ready_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
      if (stopping_) return;
      block = std::move(queued_.front());
      queued_.pop();
    }
    Done done;
    done.traffic = block.traffic;
    try {
      w.engine->replay_layer(block.work);
      move_rows(w.engine->result(), done.rows);
    } catch (...) {
      const std::scoped_lock lock(mutex_);
      if (!error_) error_ = std::current_exception();
      stopping_ = true;
      block_ready_.notify_all();
      block_done_.notify_all();
      return;
    }
    {
      const std::scoped_lock lock(mutex_);
      done_.emplace(block.order, std::move(done));
    }
    block_done_.notify_all();
  }
}

// Called with the lock held: appends the blocks that are next in order, the lock released while
// their rows are copied (workers go on meanwhile).
void LayerWorkers::put_done_in_order(std::unique_lock<std::mutex>& lock) {
  for (auto it = done_.find(merged_); it != done_.end(); it = done_.find(merged_)) {
    Done done = std::move(it->second);
    done_.erase(it);
    lock.unlock();
    move_rows(done.rows, result_);
    add_traffic(result_, done.traffic);
    lock.lock();
    ++merged_;
  }
}

void LayerWorkers::rethrow_error() const {
  if (error_) std::rethrow_exception(error_);
}

void LayerWorkers::submit(LayerWork&& work, const LayerTrafficTotals& traffic) {
  if (threads_.empty()) start_threads();
  std::unique_lock lock(mutex_);
  while (true) {
    put_done_in_order(lock);
    rethrow_error();
    if (submitted_ - merged_ < max_in_flight_) break;
    block_done_.wait(lock);
  }
  queued_.push(Block{submitted_++, std::move(work), traffic});
  lock.unlock();
  block_ready_.notify_one();
}

ReplayResult LayerWorkers::finish() {
  {
    std::unique_lock lock(mutex_);
    while (true) {
      put_done_in_order(lock);
      rethrow_error();
      if (merged_ == submitted_) break;
      block_done_.wait(lock);
    }
  }
  stop();
  return std::move(result_);
}

}  // namespace moesim::sim
