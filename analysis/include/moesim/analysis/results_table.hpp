#pragma once
// The results table of a sweep: one row per scenario (grid order), one column per parameter and per
// scalar in the steps' --json summaries ("<step>.<key>.<key>"), plus bookkeeping columns
// (scenario, id, status ok|failed|missing, exit_code, failed_step, error, wall_s).
// Written as CSV and as HDF5 (group /results: one 1-D dataset per column, float64 or UTF-8 string,
// in column order given by the group's attribute `columns`).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moesim::analysis {

struct ResultsTable {
  std::vector<std::string> columns;
  std::vector<nlohmann::json> rows;  // flat objects: column → number | string (absent = empty cell)
  bool numeric(const std::string& column) const;  // every present value is a number
};

// Flattens nested objects into "prefix.key.key" scalars; arrays (per-layer, per-GPU detail) stay in
// the scenario's result.json and are left out of the table.
void flatten_scalars(const nlohmann::json& value, const std::string& prefix, nlohmann::json& row);

// Builds the table from OUT/sweep.json and the scenario result files present (missing ones get
// status "missing"). Throws InputError when OUT/sweep.json is absent or malformed.
ResultsTable collect_table(const std::filesystem::path& out_dir);

void write_csv(const ResultsTable& table, const std::filesystem::path& path);
void write_hdf5(const ResultsTable& table, const std::filesystem::path& path, const std::string& sweep_name);

}  // namespace moesim::analysis
