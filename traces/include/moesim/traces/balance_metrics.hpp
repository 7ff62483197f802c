#pragma once
// How unevenly tokens fall on experts. Each formula is written out where it is computed
// (balance_metrics.cpp); tests check them on hand-worked loads.
#include <cstdint>
#include <span>
#include <vector>

namespace moesim::traces {

struct BalanceMetrics {
  std::uint64_t total = 0;   // assignments counted (tokens × k, or tokens for top-1)
  double mean = 0;           // total / E
  double variance = 0;       // population variance of the loads
  double cv = 0;             // std / mean
  double gini = 0;           // 0 balanced ... (E-1)/E one-hot
  double max_load = 0, min_load = 0;
  double max_min_ratio = 0;  // +inf when some expert gets nothing
  double max_mean_ratio = 0;
  double max_vio = 0;        // (max - mean) / mean
  double entropy_norm = 0;   // H(p) / ln E, 1 = uniform
};

BalanceMetrics balance_metrics(std::span<const std::uint64_t> loads);

}  // namespace moesim::traces
