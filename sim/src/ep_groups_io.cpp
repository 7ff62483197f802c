// `replay --ep-size G --out DIR`: the EP groups' results as files, written through the one result
// folder writer (write_result_folder: a temporary folder that takes DIR's place in one step).
//   summary.json  what --json prints (settings, per-group P99 and slowdown, simulation cost) + config
//   groups.csv    one row per (step, layer) and group together, and one per (step, layer) for
//                 group 0 alone: the figures the P99s and slowdowns are computed from
#include <fmt/format.h>

#include "moesim/common/atomic_file.hpp"
#include "moesim/sim/ep_groups.hpp"
#include "moesim/sim/summary.hpp"

namespace moesim::sim {

namespace {

// A group's times in one (step, layer): its all-to-alls (largest per-GPU finish - own start) and layer.
void append_row(std::string& csv, const EpGroupsResult::Layer& l, const char* run, int group, const EpLayerTimes& t,
                int index) {
  csv += fmt::format("{},{},{},{},{:.9g},{:.9g},{:.9g}\n", l.step, l.layer, run, group, t.dispatch_s[index],
                     t.combine_s[index], t.layer_s[index]);
}

}  // namespace

std::string groups_csv(const EpGroupsResult& r) {
  std::string csv = "step,layer,run,group,dispatch_s,combine_s,layer_s\n";
  for (const auto& l : r.layers) {
    for (int k = 0; k < r.groups; ++k) append_row(csv, l, "together", k, l.together, k);
    append_row(csv, l, "alone", 0, l.alone, 0);
  }
  return csv;
}

void write_ep_group_outputs(const std::filesystem::path& dir, const EpGroupsResult& r, const nlohmann::json& config) {
  nlohmann::json summary = to_json(r);
  summary["config"] = config;
  write_result_folder(dir, config, [&](const std::filesystem::path& temp) {
    write_file_atomically(temp / "groups.csv", groups_csv(r));
    write_file_atomically(temp / "summary.json", summary.dump(2) + "\n");
  });
}

}  // namespace moesim::sim
