// The sweep's results table: per-scenario result.json files → one flat table → CSV and HDF5.
#include "moesim/analysis/results_table.hpp"

#include <H5Cpp.h>
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <set>

#include "moesim/analysis/sweep_runner.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"

namespace moesim::analysis {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json(const fs::path& path) {
  std::ifstream f(path);
  if (!f) return json();
  return json::parse(f, nullptr, /*allow_exceptions=*/false);
}

// RFC 4180: quote a field holding a comma, quote or line break; double the quotes inside.
std::string csv_field(const json& v) {
  if (v.is_null()) return "";
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number()) return v.dump();  // shortest text that reads back to the same double (0.4, not 0.40000000000000002)
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void write_strings_attr(H5::H5Object& obj, const char* name, const std::vector<std::string>& values) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  hsize_t n = values.size();
  H5::Attribute attr = obj.createAttribute(name, type, H5::DataSpace(1, &n));
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  attr.write(type, ptrs.data());
}

void write_string_attr(H5::H5Object& obj, const char* name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  H5::Attribute attr = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  const char* p = value.c_str();
  attr.write(type, &p);
}

}  // namespace

bool ResultsTable::numeric(const std::string& column) const {
  for (const auto& row : rows) {
    auto it = row.find(column);
    if (it != row.end() && !it->is_null() && !it->is_number()) return false;
  }
  return true;
}

void flatten_scalars(const json& value, const std::string& prefix, json& row) {
  if (value.is_object()) {
    for (const auto& [key, v] : value.items()) flatten_scalars(v, prefix.empty() ? key : prefix + "." + key, row);
  } else if (value.is_primitive() && !value.is_null()) {
    row[prefix] = value.is_boolean() ? json(value.get<bool>() ? 1 : 0) : value;
  }
}

ResultsTable collect_table(const fs::path& out_dir) {
  const fs::path index_path = out_dir / "sweep.json";
  if (!fs::exists(index_path))
    throw InputError(located(index_path, "no such file (is this the --out folder of `moesim sweep`?)"));
  json index = read_json(index_path);
  if (index.is_discarded() || index.value("format", "") != "moesim-sweep" || !index.contains("scenarios"))
    throw InputError(located(index_path, "not a moesim sweep index (format moesim-sweep)"));

  ResultsTable table;
  table.columns = {"scenario", "id", "status", "exit_code", "failed_step", "error", "wall_s"};
  for (const auto& c : index["columns"]) table.columns.push_back(c.get<std::string>());
  std::set<std::string> known(table.columns.begin(), table.columns.end());
  std::vector<std::string> output_columns;  // first-seen order across scenarios

  for (const auto& s : index["scenarios"]) {
    json row = json::object();
    const std::string id = s["id"].get<std::string>();
    row["scenario"] = s["index"];
    row["id"] = id;
    for (const auto& [k, v] : s["params"].items()) row[k] = v;
    json result = read_json(result_path(out_dir, id));
    if (result.is_discarded() || result.is_null() || result.value("id", "") != id) {
      row["status"] = "missing";
    } else {
      row["status"] = result["status"];
      row["exit_code"] = result["exit_code"];
      row["wall_s"] = result["wall_s"];
      if (result.contains("failed_step")) row["failed_step"] = result["failed_step"];
      if (result.contains("error")) row["error"] = result["error"];
      json outputs = json::object();
      flatten_scalars(result["steps"], "", outputs);
      for (const auto& [k, v] : outputs.items()) {
        row[k] = v;
        if (known.insert(k).second) output_columns.push_back(k);
      }
    }
    table.rows.push_back(std::move(row));
  }
  table.columns.insert(table.columns.end(), output_columns.begin(), output_columns.end());
  return table;
}

void write_csv(const ResultsTable& table, const fs::path& path) {
  // Appended piece by piece: `"," + field` trips GCC 12's false -Wrestrict at -O2 and above.
  std::string text;
  for (std::size_t c = 0; c < table.columns.size(); ++c) text.append(c ? "," : "").append(csv_field(table.columns[c]));
  text += "\n";
  for (const auto& row : table.rows) {
    for (std::size_t c = 0; c < table.columns.size(); ++c) {
      auto it = row.find(table.columns[c]);
      text.append(c ? "," : "");
      if (it != row.end()) text.append(csv_field(*it));
    }
    text += "\n";
  }
  write_file_atomically(path, text);
}

void write_hdf5(const ResultsTable& table, const fs::path& path, const std::string& sweep_name) {
  AtomicOutput out(path);
  {
    H5::H5File file(out.temp_path().string(), H5F_ACC_TRUNC);
    H5::Group group = file.createGroup("/results");
    write_string_attr(group, "format", "moesim-sweep-results");
    write_string_attr(group, "sweep", sweep_name);
    write_strings_attr(group, "columns", table.columns);
    hsize_t n = table.rows.size();
    H5::DataSpace space(1, &n);
    for (const auto& column : table.columns) {
      std::string name = column;
      std::replace(name.begin(), name.end(), '/', '_');  // '/' would make HDF5 groups
      if (table.numeric(column)) {
        // Missing cells are NaN: a failed scenario has parameters but no outputs.
        std::vector<double> values;
        for (const auto& row : table.rows) {
          auto it = row.find(column);
          values.push_back(it == row.end() || it->is_null() ? std::nan("") : it->get<double>());
        }
        group.createDataSet(name, H5::PredType::IEEE_F64LE, space).write(values.data(), H5::PredType::NATIVE_DOUBLE);
      } else {
        H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
        type.setCset(H5T_CSET_UTF8);
        std::vector<std::string> values;
        for (const auto& row : table.rows) {
          auto it = row.find(column);
          values.push_back(it == row.end() ? "" : it->is_string() ? it->get<std::string>() : it->dump());
        }
        std::vector<const char*> ptrs;
        for (const auto& v : values) ptrs.push_back(v.c_str());
        group.createDataSet(name, type, space).write(ptrs.data(), type);
      }
    }
  }
  out.commit();
}

}  // namespace moesim::analysis
