#pragma once
// Who sends how much to whom in one all-to-all: a dense GPUs × GPUs matrix of bytes, rows = source,
// columns = destination. The diagonal is data that stays on its GPU: it is counted (conservation)
// but never put on the network.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace moesim::sim {

struct TrafficMatrix {
  int gpus = 0;
  std::vector<double> bytes;  // (gpus, gpus), row-major: bytes[src * gpus + dst]

  static TrafficMatrix zeros(int gpus);
  double at(int src, int dst) const { return bytes[static_cast<std::size_t>(src) * gpus + dst]; }
  double& at(int src, int dst) { return bytes[static_cast<std::size_t>(src) * gpus + dst]; }

  std::vector<double> bytes_out() const;  // per GPU, off-diagonal row sums
  std::vector<double> bytes_in() const;   // per GPU, off-diagonal column sums
  double network_bytes() const;           // sum of the off-diagonal entries
  double total_bytes() const;             // including the diagonal
  TrafficMatrix transposed() const;       // combine traffic is the dispatch traffic reversed
  TrafficMatrix scaled(double factor) const;
  bool operator==(const TrafficMatrix&) const = default;
};

// The same network bytes spread perfectly evenly over every ordered pair of distinct GPUs: the
// "balanced" reference each all-to-all is compared with. With including_diagonal (a platform that
// moves the local copy), all bytes, the diagonal's too, spread evenly over all N x N entries.
TrafficMatrix balanced_like(const TrafficMatrix& m, bool including_diagonal = false);

enum class MatrixUnit { kBytes, kTokens };

// Reads a matrix from CSV (one row per source GPU, comma-separated, '#' comments) or JSON (an array
// of rows, or {"unit": "tokens"|"bytes", "matrix": [[...], ...]}), by extension. Tokens are
// multiplied by bytes_per_token. Throws moesim::InputError naming file, line and column.
TrafficMatrix load_traffic_matrix(const std::filesystem::path& file, MatrixUnit unit, double bytes_per_token);

}  // namespace moesim::sim
