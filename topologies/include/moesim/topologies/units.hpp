#pragma once
// Strict unit parsing for platform files: a number followed by a unit suffix, nothing else.
// A bare number is rejected because "400" could be Gb/s or GB/s, an 8x error nobody notices.
//   bandwidth: bps Kbps Mbps Gbps Tbps (bits/s, decimal)   Bps KBps MBps GBps TBps, B/s KB/s MB/s GB/s TB/s
//              (bytes/s, decimal)   KiBps MiBps GiBps, KiB/s MiB/s GiB/s (bytes/s, binary)
//   latency:   s ms us ns ps
//   size:      B KB MB GB TB (decimal)  KiB MiB GiB TiB (binary)
// Results are SI doubles: bytes per second, seconds, bytes.
#include <stdexcept>
#include <string_view>

namespace moesim::topologies {

// Thrown with a message such as "'400' has no unit (write e.g. 400Gbps or 50GBps)"; the YAML layer
// prefixes file:line:col.
class UnitError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

double parse_bandwidth_Bps(std::string_view text);
double parse_latency_s(std::string_view text);
double parse_size_bytes(std::string_view text);

}  // namespace moesim::topologies
