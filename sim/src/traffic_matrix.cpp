#include "moesim/sim/traffic_matrix.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "moesim/common/bytes.hpp"
#include "moesim/common/error.hpp"

namespace moesim::sim {

TrafficMatrix TrafficMatrix::zeros(int gpus) {
  TrafficMatrix m;
  m.gpus = gpus;
  m.bytes.assign(static_cast<std::size_t>(gpus) * gpus, 0.0);
  return m;
}

std::vector<double> TrafficMatrix::bytes_out() const {
  std::vector<double> out(gpus, 0.0);
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d)
      if (s != d) out[s] += at(s, d);
  return out;
}

std::vector<double> TrafficMatrix::bytes_in() const {
  std::vector<double> in(gpus, 0.0);
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d)
      if (s != d) in[d] += at(s, d);
  return in;
}

double TrafficMatrix::network_bytes() const {
  double sum = 0;
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d)
      if (s != d) sum += at(s, d);
  return sum;
}

double TrafficMatrix::total_bytes() const {
  double sum = 0;
  for (double b : bytes) sum += b;
  return sum;
}

TrafficMatrix TrafficMatrix::transposed() const {
  TrafficMatrix t = zeros(gpus);
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d) t.at(d, s) = at(s, d);
  return t;
}

TrafficMatrix TrafficMatrix::scaled(double factor) const {
  TrafficMatrix t = *this;
  for (double& b : t.bytes) b *= factor;
  return t;
}

TrafficMatrix balanced_like(const TrafficMatrix& m, bool including_diagonal) {
  TrafficMatrix b = TrafficMatrix::zeros(m.gpus);
  if (including_diagonal) {
    double per_entry = m.total_bytes() / (static_cast<double>(m.gpus) * m.gpus);
    for (double& v : b.bytes) v = per_entry;
    return b;
  }
  if (m.gpus < 2) return b;
  double per_pair = m.network_bytes() / (static_cast<double>(m.gpus) * (m.gpus - 1));
  for (int s = 0; s < m.gpus; ++s)
    for (int d = 0; d < m.gpus; ++d)
      if (s != d) b.at(s, d) = per_pair;
  return b;
}

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// A matrix entry must be a finite number >= 0; anything else is the user's typo, not a zero.
double checked_entry(double v, const std::filesystem::path& file, int line, int column) {
  if (!std::isfinite(v) || v < 0)
    throw InputError(located(file, line, column, fmt::format("matrix entry {} is not a finite number >= 0", v)));
  return v;
}

std::vector<std::vector<double>> read_csv_rows(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(located(file, "cannot open for reading"));
  std::vector<std::vector<double>> rows;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1 && line.starts_with(kUtf8Bom)) line.erase(0, kUtf8Bom.size());  // spreadsheet exports
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::vector<double> row;
    std::size_t pos = 0;
    while (pos <= line.size()) {
      std::size_t comma = line.find(',', pos);
      std::string cell = line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      int column = static_cast<int>(pos) + 1;
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(cell, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || cell.find_first_not_of(" \t", used) != std::string::npos)
        throw InputError(located(file, line_no, column, fmt::format("'{}' is not a number", cell)));
      row.push_back(checked_entry(v, file, line_no, column));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (!rows.empty() && row.size() != rows.front().size())
      throw InputError(located(file, line_no, 1,
                               fmt::format("row has {} columns, the first row has {}", row.size(), rows.front().size())));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::vector<double>> read_json_rows(const std::filesystem::path& file, MatrixUnit& unit) {
  std::ifstream in(file);
  if (!in) throw InputError(located(file, "cannot open for reading"));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(located(file, fmt::format("invalid JSON: {}", e.what())));
  } catch (const nlohmann::json::out_of_range& e) {  // a number like 8E800000000 (found by fuzzing)
    throw InputError(located(file, fmt::format("invalid JSON: {}", e.what())));
  }
  if (j.is_object()) {
    if (j.contains("unit")) {
      std::string u = j.at("unit").is_string() ? j.at("unit").get<std::string>() : "";
      if (u == "tokens") unit = MatrixUnit::kTokens;
      else if (u == "bytes") unit = MatrixUnit::kBytes;
      else throw InputError(located(file, "\"unit\" must be \"tokens\" or \"bytes\""));
    }
    if (!j.contains("matrix")) throw InputError(located(file, "expected a key \"matrix\" holding an array of rows"));
    j = j.at("matrix");
  }
  if (!j.is_array()) throw InputError(located(file, "expected an array of rows (one per source GPU)"));
  std::vector<std::vector<double>> rows;
  for (std::size_t r = 0; r < j.size(); ++r) {
    const auto& jr = j[r];
    if (!jr.is_array()) throw InputError(located(file, fmt::format("row {} is not an array", r)));
    std::vector<double> row;
    for (std::size_t c = 0; c < jr.size(); ++c) {
      if (!jr[c].is_number()) throw InputError(located(file, fmt::format("row {} column {} is not a number", r, c)));
      double v = jr[c].get<double>();
      if (!std::isfinite(v) || v < 0)
        throw InputError(located(file, fmt::format("row {} column {}: {} is not a finite number >= 0", r, c, v)));
      row.push_back(v);
    }
    if (!rows.empty() && row.size() != rows.front().size())
      throw InputError(located(file, fmt::format("row {} has {} columns, row 0 has {}", r, row.size(), rows.front().size())));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

TrafficMatrix load_traffic_matrix(const std::filesystem::path& file, MatrixUnit unit, double bytes_per_token) {
  std::string ext = file.extension().string();
  std::vector<std::vector<double>> rows;
  if (ext == ".json") rows = read_json_rows(file, unit);
  else if (ext == ".csv" || ext == ".txt") rows = read_csv_rows(file);
  else throw InputError(located(file, "unknown matrix format: use .csv or .json"));
  if (rows.empty()) throw InputError(located(file, "matrix has no rows"));
  int n = static_cast<int>(rows.size());
  if (static_cast<int>(rows.front().size()) != n)
    throw InputError(located(file, fmt::format("matrix must be square (GPUs × GPUs): {} rows but {} columns", n,
                                               rows.front().size())));
  if (unit == MatrixUnit::kTokens && !(bytes_per_token > 0))
    throw InputError(located(file, "a matrix in tokens needs bytes per token > 0"));
  double factor = unit == MatrixUnit::kTokens ? bytes_per_token : 1.0;
  TrafficMatrix m = TrafficMatrix::zeros(n);
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d) {
      m.at(s, d) = rows[s][d] * factor;
      // 1e308 tokens x 8192 bytes is +inf bytes: refused rather than replayed (found by fuzzing).
      if (!std::isfinite(m.at(s, d)))
        throw InputError(located(file, fmt::format("row {} column {}: {} tokens x {} bytes per token overflows", s, d,
                                                   rows[s][d], factor)));
      // Above 2^53 a byte count is not exact and did not fit SimGrid's uint64 flow size (1e19..1e300
      // all gave the same saturated time): refused, not rounded.
      if (!is_exact_byte_count(m.at(s, d)))
        throw InputError(located(file, fmt::format("row {} column {}: {:.17g} bytes is more than 2^53 = {:.0f} bytes, the "
                                                   "largest count moesim holds exactly",
                                                   s, d, m.at(s, d), kMaxExactBytes)));
    }
  return m;
}

}  // namespace moesim::sim
