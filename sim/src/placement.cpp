#include "moesim/sim/placement.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "moesim/common/error.hpp"
#include "moesim/common/json_number.hpp"

namespace moesim::sim {

std::vector<int> Placement::experts_on_gpu(int gpu) const {
  std::vector<int> out;
  for (int e = 0; e < num_experts; ++e)
    for (const Replica& r : replicas[e])
      if (r.gpu == gpu) out.push_back(e);
  return out;
}

static void check_sizes(int num_experts, int num_gpus) {
  if (num_experts < 1) throw InputError(fmt::format("placement: number of experts must be >= 1, got {}", num_experts));
  if (num_gpus < 1) throw InputError(fmt::format("placement: number of GPUs must be >= 1, got {}", num_gpus));
}

Placement contiguous_placement(int num_experts, int num_gpus) {
  check_sizes(num_experts, num_gpus);
  Placement p{"contiguous", num_experts, num_gpus, {}};
  p.replicas.resize(num_experts);
  for (int e = 0; e < num_experts; ++e) {
    // With E >= G this is blocks of E/G experts; with E < G experts are spread over the GPUs.
    int gpu = static_cast<int>(static_cast<std::int64_t>(e) * num_gpus / num_experts);
    p.replicas[e] = {{gpu, 1.0}};
  }
  return p;
}

Placement strided_placement(int num_experts, int num_gpus) {
  check_sizes(num_experts, num_gpus);
  Placement p{"strided", num_experts, num_gpus, {}};
  p.replicas.resize(num_experts);
  for (int e = 0; e < num_experts; ++e) p.replicas[e] = {{e % num_gpus, 1.0}};
  return p;
}

static InputError gpu_out_of_range(const std::filesystem::path& file, int expert, std::int64_t gpu, int num_gpus) {
  return InputError(located(file, fmt::format("expert {} is placed on GPU {}, but there are only {} GPUs (0..{})", expert,
                                              gpu, num_gpus, num_gpus - 1)));
}

static void normalise_and_check(Placement& p, const std::filesystem::path& file) {
  for (int e = 0; e < p.num_experts; ++e) {
    auto& reps = p.replicas[e];
    if (reps.empty()) throw InputError(located(file, fmt::format("expert {} has no GPU", e)));
    double largest = 0;
    for (const Replica& r : reps) {
      if (r.gpu < 0 || r.gpu >= p.num_gpus) throw gpu_out_of_range(file, e, r.gpu, p.num_gpus);
      if (!(r.share > 0) || !std::isfinite(r.share))
        throw InputError(located(file, fmt::format("expert {}: replica share must be a finite number > 0", e)));
      largest = std::max(largest, r.share);
    }
    // Scaled by the largest first: shares of 1e308 would otherwise sum to +inf and all become 0.
    double sum = 0;
    for (Replica& r : reps) sum += (r.share /= largest);
    for (Replica& r : reps) r.share /= sum;
  }
}

Placement load_placement(const std::filesystem::path& file, int num_experts, int num_gpus) {
  check_sizes(num_experts, num_gpus);
  std::ifstream in(file);
  if (!in) throw InputError(located(file, "cannot open placement file"));
  Placement p{"file", num_experts, num_gpus, {}};
  p.replicas.resize(num_experts);
  if (file.extension() == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {  // syntax, or a number beyond a double (out_of_range)
      throw InputError(located(file, fmt::format("invalid JSON: {}", e.what())));
    }
    if (!j.is_object() || !j.contains("experts") || !j["experts"].is_array())
      throw InputError(located(file, "expected {\"experts\": [[gpu, ...], ...]} (one list per expert)"));
    const auto& ex = j["experts"];
    if (static_cast<int>(ex.size()) != num_experts)
      throw InputError(located(file, fmt::format("lists {} experts, the model has {}", ex.size(), num_experts)));
    for (int e = 0; e < num_experts; ++e) {
      const auto& reps = ex[e].is_array() ? ex[e] : nlohmann::json::array({ex[e]});
      // json_integer, not get<int>(): a GPU index of 2^32 would wrap to GPU 0 and look valid.
      auto gpu = [&](const nlohmann::json& v) {
        std::int64_t g = json_integer<std::int64_t>(v, file, fmt::format("expert {}: GPU", e));
        if (g < 0 || g >= num_gpus) throw gpu_out_of_range(file, e, g, num_gpus);
        return static_cast<int>(g);
      };
      for (const auto& r : reps) {
        if (r.is_number_integer()) p.replicas[e].push_back({gpu(r), 1.0});
        else if (r.is_array() && r.size() == 2 && r[0].is_number_integer() && r[1].is_number())
          p.replicas[e].push_back({gpu(r[0]), r[1].get<double>()});
        else throw InputError(located(file, fmt::format("expert {}: a replica is a GPU index or [gpu, share]", e)));
      }
    }
  } else {
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // UTF-8 BOM of spreadsheet exports
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#' || line.starts_with("expert")) continue;
      std::replace(line.begin(), line.end(), ',', ' ');
      std::istringstream ls(line);
      long expert = -1, gpu = -1;
      double share = 1.0;
      if (!(ls >> expert >> gpu)) throw InputError(located(file, line_no, 1, "expected \"expert,gpu[,share]\""));
      std::string share_text;
      if (ls >> share_text) {
        std::istringstream ss(share_text);
        if (!(ss >> share) || !ss.eof())
          throw InputError(located(file, line_no, 1, fmt::format("share '{}' is not a number", share_text)));
      }
      if (expert < 0 || expert >= num_experts)
        throw InputError(located(file, line_no, 1, fmt::format("expert {} out of range 0..{}", expert, num_experts - 1)));
      if (gpu < 0 || gpu >= num_gpus)  // checked before the cast to int, which would wrap 2^32 to 0
        throw InputError(located(file, line_no, 1,
                                 fmt::format("expert {} is placed on GPU {}, but there are only {} GPUs (0..{})", expert,
                                             gpu, num_gpus, num_gpus - 1)));
      p.replicas[expert].push_back({static_cast<int>(gpu), share});
    }
  }
  normalise_and_check(p, file);
  return p;
}

Placement eplb_placement(std::span<const double> expert_loads, int num_gpus, int redundant) {
  int num_experts = static_cast<int>(expert_loads.size());
  check_sizes(num_experts, num_gpus);
  int physical = num_experts + redundant;
  if (redundant < 0 || physical % num_gpus != 0)
    throw InputError(fmt::format("eplb: experts + redundant replicas ({} + {}) must be a multiple of the {} GPUs",
                                 num_experts, redundant, num_gpus));
  // 1. Replication: each extra replica goes to the expert whose load per replica is highest.
  std::vector<int> count(num_experts, 1);
  for (int r = 0; r < redundant; ++r) {
    int best = 0;
    for (int e = 1; e < num_experts; ++e)
      if (expert_loads[e] / count[e] > expert_loads[best] / count[best]) best = e;
    ++count[best];
  }
  // 2. Packing: replicas heaviest first, each to the least-loaded GPU with a free slot (ties: lowest index).
  struct Phys {
    int expert;
    double load;
  };
  std::vector<Phys> phys;
  for (int e = 0; e < num_experts; ++e)
    for (int c = 0; c < count[e]; ++c) phys.push_back({e, expert_loads[e] / count[e]});
  std::stable_sort(phys.begin(), phys.end(), [](const Phys& a, const Phys& b) { return a.load > b.load; });
  int slots = physical / num_gpus;
  std::vector<double> gpu_load(num_gpus, 0.0);
  std::vector<int> gpu_used(num_gpus, 0);
  Placement p{"eplb", num_experts, num_gpus, {}};
  p.replicas.resize(num_experts);
  for (const Phys& ph : phys) {
    int best = -1;
    for (int g = 0; g < num_gpus; ++g)
      if (gpu_used[g] < slots && (best < 0 || gpu_load[g] < gpu_load[best])) best = g;
    gpu_load[best] += ph.load;
    ++gpu_used[best];
    p.replicas[ph.expert].push_back({best, 1.0 / count[ph.expert]});
  }
  return p;
}

}  // namespace moesim::sim
