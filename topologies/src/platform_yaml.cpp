// YAML platform file -> PlatformSpec. Every key is checked against the list the format allows,
// every value is parsed with its unit, every range is checked here and nowhere else.
//
// `extends:` layers files: the user's file is layer 0, the file it extends layer 1, and so on.
// A scalar is read from the first layer that has it; maps merge key by key; lists (tiers,
// link_overrides) are taken whole from the first layer that has them. Each layer's keys are checked
// in that layer's file, so an error always points at the line that has it.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <map>
#include <set>

#include "moesim/common/error.hpp"
#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"
#include "moesim/topologies/units.hpp"

namespace moesim::topologies {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxExtendsDepth = 16;

struct Layer {
  YAML::Node node;
  fs::path file;
};

// Messages quote what the file says (keys, values, yaml-cpp's offending character), which may hold
// a newline or control byte: InputError itself escapes those, so every message stays on one line.
[[noreturn]] void fail_at(const fs::path& file, const YAML::Node& node, const std::string& message) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) throw InputError(located(file, message));
  throw InputError(located(file, mark.line + 1, mark.column + 1, message));
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

// The closest known name to a mistyped one, or "" when nothing is close (declared in fabric.hpp).
std::string closest_name(const std::string& typed, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, typed.size() / 3) + 1;
  for (const auto& candidate : known) {
    std::size_t d = edit_distance(typed, candidate);
    if (d < best_distance) best_distance = d, best = candidate;
  }
  return best;
}

namespace {

// The same place (e.g. scale_out.tiers) seen through every layer that defines it.
class View {
 public:
  View(std::vector<Layer> layers, std::string path) : layers_(std::move(layers)), path_(std::move(path)) {}

  bool present() const { return !layers_.empty(); }
  const std::string& path() const { return path_; }
  const Layer& top() const { return layers_.front(); }

  bool has(const std::string& key) const {
    return std::any_of(layers_.begin(), layers_.end(), [&](const Layer& l) { return mapping(l)[key].IsDefined(); });
  }

  View child(const std::string& key) const {
    std::vector<Layer> found;
    for (const Layer& l : layers_) {
      YAML::Node c = mapping(l)[key];
      if (c.IsDefined()) found.push_back({c, l.file});
    }
    return View(std::move(found), path_.empty() ? key : path_ + "." + key);
  }

  // A key looked up in a scalar or a list made yaml-cpp throw BadSubscript, which escaped as a crash
  // (`scale_out: some text`, found by fuzzing; tests/fuzz/regressions/platform_yaml/).
  const YAML::Node& mapping(const Layer& l) const {
    if (l.node.IsScalar() || l.node.IsSequence())
      fail_at(l.file, l.node, fmt::format("'{}' must be a mapping of keys", path_.empty() ? "<top>" : path_));
    return l.node;
  }

  // The first layer's value, for scalars and lists (lists are not merged).
  const Layer& value(const std::string& key) const {
    for (const Layer& l : layers_)
      if (mapping(l)[key].IsDefined()) return value_cache_.emplace_back(Layer{l.node[key], l.file});
    fail_at(top().file, top().node, fmt::format("missing key '{}' in '{}'", key, path_.empty() ? "<top>" : path_));
  }

  // Every layer must be a mapping whose keys are all in `allowed`.
  void check_keys(const std::vector<std::string>& allowed) const {
    for (const Layer& l : layers_) {
      if (!l.node.IsMap())
        fail_at(l.file, l.node, fmt::format("'{}' must be a mapping of keys", path_.empty() ? "<top>" : path_));
      for (auto it = l.node.begin(); it != l.node.end(); ++it) {
        if (!it->first.IsScalar()) fail_at(l.file, it->first, "a key must be a plain name, not a list or mapping");
        const std::string key = it->first.Scalar();
        if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
        std::string hint = closest_name(key, allowed);
        std::string where = path_.empty() ? "" : fmt::format(" in '{}'", path_);
        if (!hint.empty()) fail_at(l.file, it->first, fmt::format("unknown key '{}'{} (did you mean '{}'?)", key, where, hint));
        std::string all;
        for (const auto& a : allowed) all += (all.empty() ? "" : ", ") + a;
        fail_at(l.file, it->first, fmt::format("unknown key '{}'{} (expected one of: {})", key, where, all));
      }
    }
  }

 private:
  std::vector<Layer> layers_;
  std::string path_;
  mutable std::deque<Layer> value_cache_;
};

std::string scalar_text(const Layer& v, const std::string& key) {
  if (!v.node.IsScalar()) fail_at(v.file, v.node, fmt::format("'{}' must be a single value", key));
  return v.node.Scalar();
}

template <typename Parse>
double parse_unit(const Layer& v, const std::string& key, Parse parse) {
  try {
    return parse(scalar_text(v, key));
  } catch (const UnitError& e) {
    fail_at(v.file, v.node, fmt::format("{}: {}", key, e.what()));
  }
}

double bandwidth(const View& view, const std::string& key) {
  const Layer& v = view.value(key);
  double bw = parse_unit(v, key, parse_bandwidth_Bps);
  if (!(bw > 0)) fail_at(v.file, v.node, fmt::format("{} must be positive, got '{}'", key, v.node.Scalar()));
  return bw;
}

double latency(const View& view, const std::string& key) {
  const Layer& v = view.value(key);
  double lat = parse_unit(v, key, parse_latency_s);
  if (lat < 0) fail_at(v.file, v.node, fmt::format("{} must not be negative, got '{}'", key, v.node.Scalar()));
  return lat;
}

// Limits (platform_spec.hpp) that keep a typo from turning into an hours-long build.
constexpr long kMaxCount = kMaxPlatformCount;
constexpr long kMaxGpusPerNode = kMaxPlatformGpusPerNode;
constexpr long kMaxGpus = kMaxPlatformGpus;
constexpr long kMaxRadix = 4096;

int positive_int(const View& view, const std::string& key, long max = kMaxCount) {
  const Layer& v = view.value(key);
  std::string text = scalar_text(v, key);
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size())
    fail_at(v.file, v.node, fmt::format("{} must be a whole number, got '{}'", key, text));
  if (value <= 0 || value > max) fail_at(v.file, v.node, fmt::format("{} must be between 1 and {}, got {}", key, max, value));
  return static_cast<int>(value);
}

double positive_number(const Layer& v, const std::string& key) {
  std::string text = scalar_text(v, key);
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size())
    fail_at(v.file, v.node, fmt::format("{} must be a plain number, got '{}'", key, text));
  if (!(value > 0)) fail_at(v.file, v.node, fmt::format("{} must be positive, got '{}'", key, text));
  return value;
}

// "2:1" or "2" -> 2.0 (down:up ports).
double oversubscription_ratio(const Layer& v) {
  std::string text = scalar_text(v, "oversubscription");
  auto colon = text.find(':');
  double ratio = 0;
  if (colon == std::string::npos) {
    ratio = positive_number(v, "oversubscription");
  } else {
    double down = 0, up = 0;
    auto r1 = std::from_chars(text.data(), text.data() + colon, down);
    auto r2 = std::from_chars(text.data() + colon + 1, text.data() + text.size(), up);
    if (r1.ec != std::errc() || r1.ptr != text.data() + colon || r2.ec != std::errc() ||
        r2.ptr != text.data() + text.size() || !(down > 0) || !(up > 0))
      fail_at(v.file, v.node, fmt::format("oversubscription must look like 2:1, got '{}'", text));
    ratio = down / up;
  }
  if (ratio < 1) fail_at(v.file, v.node, fmt::format("oversubscription must be at least 1:1, got '{}'", text));
  return ratio;
}

// yaml-cpp keeps both entries of a key written twice and lookups return the first, so a repeated
// `gpus:` would silently lose a value: every mapping of every file is checked here instead. Aliases
// can make the node graph cyclic or exponentially shared (`a: &a [*a]`), so each container is walked
// once, identified by where it starts in the file (an alias resolves to the same node and mark).
void check_duplicate_keys(const fs::path& file, const YAML::Node& node, std::set<int>& walked) {
  if (!node.IsMap() && !node.IsSequence()) return;
  if (!walked.insert(node.Mark().pos).second) return;
  if (node.IsSequence()) {
    for (const YAML::Node& item : node) check_duplicate_keys(file, item, walked);
    return;
  }
  std::map<std::string, int> first_line;  // scalar key -> line of its first occurrence
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (key.IsScalar()) {
      auto [it, inserted] = first_line.emplace(key.Scalar(), key.Mark().line + 1);
      if (!inserted)
        fail_at(file, key, fmt::format("duplicate key '{}' (first at line {})", key.Scalar(), it->second));
    }
    check_duplicate_keys(file, key, walked);
    check_duplicate_keys(file, entry.second, walked);
  }
}

YAML::Node parse_yaml_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(located(file, "no such file"));
  if (fs::is_directory(file, ec)) throw InputError(located(file, "is a directory, expected a platform file"));
  try {
    YAML::Node root = YAML::LoadFile(file.string());
    if (!root.IsMap()) throw InputError(located(file, "a platform file must be a mapping of keys (see platforms/README.md)"));
    std::set<int> walked;
    check_duplicate_keys(file, root, walked);
    return root;
  } catch (const YAML::ParserException& e) {
    throw InputError(located(file, e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const YAML::BadFile&) {
    throw InputError(located(file, "cannot read file"));
  }
}

std::vector<Layer> load_layers(const fs::path& file) {
  std::vector<Layer> layers;
  std::set<fs::path> seen;
  fs::path current = file;
  for (int depth = 0;; ++depth) {
    YAML::Node root = parse_yaml_file(current);
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(current, ec);
    if (!seen.insert(canonical).second) throw InputError(located(file, fmt::format("extends: cycle through {}", current.string())));
    layers.push_back({root, current});
    YAML::Node parent = root["extends"];
    if (!parent.IsDefined()) break;
    if (!parent.IsScalar()) fail_at(current, parent, "extends must be a preset name or a file path");
    if (depth >= kMaxExtendsDepth) fail_at(current, parent, "extends: chain is deeper than 16 files");
    fs::path next = resolve_platform_path(parent.Scalar(), current.parent_path());
    if (!fs::exists(next, ec))
      fail_at(current, parent, fmt::format("extends: no preset or file named '{}' (presets are in {})", parent.Scalar(),
                                           presets_dir().string()));
    current = next;
  }
  return layers;
}


// --- sections -----------------------------------------------------------------------------------

void read_node(const View& node, int nodes, NodeSpec& out) {
  node.check_keys({"gpus", "nvswitch", "mesh", "nic", "duplex_bandwidth", "local_copy_bandwidth"});
  out.gpus = positive_int(node, "gpus", kMaxGpusPerNode);
  (void)nodes;  // nodes x gpus is checked by the caller, which knows which file set which
  bool nvswitch = node.has("nvswitch"), mesh = node.has("mesh");
  if (nvswitch == mesh)
    fail_at(node.top().file, node.top().node,
            nvswitch ? "node has both 'nvswitch' and 'mesh': choose one intra-node fabric"
                     : "missing key 'nvswitch' or 'mesh' in 'node' (the intra-node fabric)");
  if (nvswitch) {
    View f = node.child("nvswitch");
    f.check_keys({"links_per_gpu", "link_bandwidth", "latency", "flow_bandwidth"});
    out.fabric = IntraNodeFabric::nvswitch;
    out.links = positive_int(f, "links_per_gpu");
    out.link_bandwidth_Bps = bandwidth(f, "link_bandwidth");
    out.latency_s = latency(f, "latency");
    if (f.has("flow_bandwidth")) out.flow_bandwidth_Bps = bandwidth(f, "flow_bandwidth");
  } else {
    View f = node.child("mesh");
    f.check_keys({"links_per_pair", "link_bandwidth", "latency"});
    out.fabric = IntraNodeFabric::mesh;
    out.links = positive_int(f, "links_per_pair");
    out.link_bandwidth_Bps = bandwidth(f, "link_bandwidth");
    out.latency_s = latency(f, "latency");
  }
  if (node.has("duplex_bandwidth")) out.duplex_bandwidth_Bps = bandwidth(node, "duplex_bandwidth");
  if (node.has("local_copy_bandwidth")) out.local_copy_bandwidth_Bps = bandwidth(node, "local_copy_bandwidth");
  if (!node.has("nic")) {
    if (nodes > 1) fail_at(node.top().file, node.top().node, "missing key 'nic' in 'node' (needed when nodes > 1)");
    return;
  }
  View nic = node.child("nic");
  nic.check_keys({"count", "bandwidth", "latency", "pcie_bandwidth"});
  out.nics = nic.has("count") ? positive_int(nic, "count") : out.gpus;
  if (out.nics > out.gpus || out.gpus % out.nics != 0) {
    const Layer& v = nic.value("count");
    fail_at(v.file, v.node, fmt::format("nic count {} must divide the node's {} GPUs", out.nics, out.gpus));
  }
  out.nic_bandwidth_Bps = bandwidth(nic, "bandwidth");
  out.nic_latency_s = latency(nic, "latency");
  if (nic.has("pcie_bandwidth")) out.pcie_bandwidth_Bps = bandwidth(nic, "pcie_bandwidth");
}

TierSpec read_tier(const Layer& tier, const std::string& where, bool top) {
  View v({tier}, where);
  std::vector<std::string> keys{"link_latency", "switch_latency"};
  if (!top) keys.push_back("oversubscription");
  v.check_keys(keys);
  TierSpec out;
  out.link_latency_s = latency(v, "link_latency");
  out.switch_latency_s = latency(v, "switch_latency");
  if (!top && v.has("oversubscription")) out.oversubscription = oversubscription_ratio(v.value("oversubscription"));
  return out;
}

void read_scale_out(const View& so, const NodeSpec& node, ScaleOutSpec& out) {
  const Layer& topo = so.value("topology");
  std::string name = scalar_text(topo, "topology");
  if (name == "single_switch") {
    so.check_keys({"topology", "link_latency", "switch_latency"});
    out.topology = ScaleOutTopology::single_switch;
    out.tiers.push_back({latency(so, "link_latency"), latency(so, "switch_latency"), 1});
    out.port_bandwidth_Bps = node.nic_bandwidth_Bps;
    return;
  }
  if (name == "fat_tree") out.topology = ScaleOutTopology::fat_tree;
  else if (name == "rail_optimized") out.topology = ScaleOutTopology::rail_optimized;
  else {
    std::string hint = closest_name(name, {"single_switch", "fat_tree", "rail_optimized"});
    fail_at(topo.file, topo.node,
            fmt::format("unknown topology '{}'{} (expected single_switch, fat_tree or rail_optimized)", name,
                        hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
  }
  so.check_keys({"topology", "switch_radix", "port_bandwidth", "tiers"});
  out.switch_radix = positive_int(so, "switch_radix", kMaxRadix);
  out.port_bandwidth_Bps = so.has("port_bandwidth") ? bandwidth(so, "port_bandwidth") : node.nic_bandwidth_Bps;
  const Layer& tiers = so.value("tiers");
  if (!tiers.node.IsSequence()) fail_at(tiers.file, tiers.node, "tiers must be a list, leaves first");
  if (tiers.node.size() < 2 || tiers.node.size() > 3)
    fail_at(tiers.file, tiers.node, fmt::format("{} needs 2 or 3 tiers (leaves first), got {}", name, tiers.node.size()));
  for (std::size_t i = 0; i < tiers.node.size(); ++i)
    out.tiers.push_back(read_tier({tiers.node[i], tiers.file}, fmt::format("scale_out.tiers[{}]", i),
                                  i + 1 == tiers.node.size()));
}

double factor_in_unit_interval(const Layer& v, const std::string& key) {
  double value = positive_number(v, key);
  if (value > 1) fail_at(v.file, v.node, fmt::format("{} must be in (0, 1]: a link never beats its nominal bandwidth", key));
  return value;
}

// calibration.bandwidth_factors: a list of {message_size: SIZE, factor: F}, sizes strictly increasing.
void read_bandwidth_factors(const Layer& list, std::vector<BandwidthFactorPoint>& out) {
  if (!list.node.IsSequence() || list.node.size() == 0)
    fail_at(list.file, list.node, "bandwidth_factors must be a non-empty list of {message_size: SIZE, factor: F}");
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    View v({{list.node[i], list.file}}, fmt::format("calibration.bandwidth_factors[{}]", i));
    v.check_keys({"message_size", "factor"});
    const Layer& size = v.value("message_size");
    BandwidthFactorPoint point;
    point.message_bytes = parse_unit(size, "message_size", parse_size_bytes);
    if (!(point.message_bytes > 0)) fail_at(size.file, size.node, fmt::format("message_size must be positive, got '{}'", size.node.Scalar()));
    if (!out.empty() && !(point.message_bytes > out.back().message_bytes))
      fail_at(size.file, size.node, "bandwidth_factors: message sizes must be strictly increasing");
    point.factor = factor_in_unit_interval(v.value("factor"), "factor");
    out.push_back(point);
  }
}

void read_calibration(const View& cal, CalibrationSpec& out) {
  cal.check_keys({"bandwidth_factor", "latency_factor", "bandwidth_factors", "source"});
  if (cal.has("source")) out.source = scalar_text(cal.value("source"), "calibration.source");
  if (cal.has("bandwidth_factors")) read_bandwidth_factors(cal.value("bandwidth_factors"), out.bandwidth_factors);
  if (cal.has("bandwidth_factor")) {
    const Layer& v = cal.value("bandwidth_factor");
    out.bandwidth_factor = positive_number(v, "bandwidth_factor");
    if (out.bandwidth_factor > 1) fail_at(v.file, v.node, "bandwidth_factor must be in (0, 1]: a link never beats its nominal bandwidth");
  }
  if (cal.has("latency_factor")) out.latency_factor = positive_number(cal.value("latency_factor"), "latency_factor");
}

void read_link_overrides(const Layer& list, std::vector<LinkOverride>& out) {
  if (!list.node.IsSequence()) fail_at(list.file, list.node, "link_overrides must be a list of {link: NAME, ...}");
  std::map<std::string, int> first_line;  // a link overridden twice silently took the last entry
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    View v({{list.node[i], list.file}}, fmt::format("link_overrides[{}]", i));
    v.check_keys({"link", "bandwidth", "latency", "failed"});
    LinkOverride o;
    const Layer& name = v.value("link");
    o.link = scalar_text(name, "link");
    o.file = name.file;
    o.line = name.node.Mark().line + 1;
    o.column = name.node.Mark().column + 1;
    if (auto [it, added] = first_line.emplace(o.link, o.line); !added)
      fail_at(name.file, name.node, fmt::format("link '{}' is overridden twice (first at line {}): merge the two entries",
                                                o.link, it->second));
    if (v.has("bandwidth")) o.bandwidth_Bps = bandwidth(v, "bandwidth");
    if (v.has("latency")) o.latency_s = latency(v, "latency");
    if (v.has("failed")) {
      const Layer& f = v.value("failed");
      std::string text = scalar_text(f, "failed");
      if (text != "true" && text != "false") fail_at(f.file, f.node, fmt::format("failed must be true or false, got '{}'", text));
      o.failed = text == "true";
    }
    if (o.failed && (o.bandwidth_Bps || o.latency_s))
      fail_at(list.file, list.node[i], "a failed link has no bandwidth or latency: give 'failed: true' alone");
    if (!o.failed && !o.bandwidth_Bps && !o.latency_s)
      fail_at(list.file, list.node[i], "link override changes nothing: give bandwidth, latency or failed: true");
    out.push_back(std::move(o));
  }
}

}  // namespace

double CalibrationSpec::bandwidth_factor_for(double message_bytes) const {
  const auto& t = bandwidth_factors;
  if (t.empty()) return bandwidth_factor;
  if (message_bytes <= t.front().message_bytes) return bandwidth_factor * t.front().factor;
  if (message_bytes >= t.back().message_bytes) return bandwidth_factor * t.back().factor;
  auto hi = std::upper_bound(t.begin(), t.end(), message_bytes,
                             [](double b, const BandwidthFactorPoint& p) { return b < p.message_bytes; });
  auto lo = hi - 1;
  // NCCL's efficiency changes by protocol and chunk count, i.e. by orders of magnitude of size.
  double w = std::log(message_bytes / lo->message_bytes) / std::log(hi->message_bytes / lo->message_bytes);
  return bandwidth_factor * (lo->factor + w * (hi->factor - lo->factor));
}

bool CalibrationSpec::nominal() const { return source.empty() || source.starts_with("nominal"); }

static PlatformSpec load_platform_spec_unguarded(const fs::path& file);

PlatformSpec load_platform_spec(const fs::path& file) {
  try {
    return load_platform_spec_unguarded(file);
  } catch (const YAML::Exception& e) {
    // Any other yaml-cpp surprise (a list as a key, ...) is still bad input, not a crash.
    throw InputError(located(file, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1,
                             "unexpected YAML structure: " + e.msg));
  }
}

static PlatformSpec load_platform_spec_unguarded(const fs::path& file) {
  std::vector<Layer> layers = load_layers(file);
  View root(layers, "");
  root.check_keys({"name", "description", "extends", "nodes", "node", "scale_out", "calibration", "link_overrides"});

  PlatformSpec spec;
  spec.file = file;
  spec.name = root.has("name") ? scalar_text(root.value("name"), "name") : file.stem().string();
  if (root.has("description")) spec.description = scalar_text(root.value("description"), "description");
  spec.nodes = root.has("nodes") ? positive_int(root, "nodes") : 1;
  if (!root.has("node")) fail_at(file, layers.front().node, "missing key 'node' (GPUs per node and their fabric)");
  // nodes and gpus are each bounded, but their product sizes every graph and table downstream
  // (10^6 nodes x 8 GPUs asked for gigabytes; 10^6 x 10^6 overflowed gpu_count()): found by fuzzing,
  // tests/fuzz/regressions/platform_yaml/. 2^17 GPUs is beyond any cluster SimGrid can replay here.
  const View node_view = root.child("node");
  const int gpus_per_node = positive_int(node_view, "gpus", kMaxGpusPerNode);
  if (static_cast<long long>(spec.nodes) * gpus_per_node > kMaxGpus) {
    // Point at the value the user's own file sets (layer 0), not into a file it extends.
    const Layer gpus = node_view.value("gpus");
    const bool blame_nodes = root.has("nodes") && gpus.file != layers.front().file &&
                             root.value("nodes").file == layers.front().file;
    const Layer at = blame_nodes ? root.value("nodes") : gpus;
    fail_at(at.file, at.node, fmt::format("{} nodes x {} GPUs is more than {} GPUs in all", spec.nodes, gpus_per_node,
                                          kMaxGpus));
  }
  read_node(root.child("node"), spec.nodes, spec.node);
  if (root.has("scale_out")) {
    View so = root.child("scale_out");
    read_scale_out(so, spec.node, spec.scale_out);
    ScaleOutShape shape;
    if (spec.nodes > 1)
      if (std::string why = scale_out_shape(spec, shape); !why.empty()) {
        const Layer& at = so.has("switch_radix") ? so.value("switch_radix") : so.value("topology");
        fail_at(at.file, at.node, why);
      }
  }
  else if (spec.nodes > 1) fail_at(file, layers.front().node, "missing key 'scale_out' (needed when nodes > 1)");
  if (spec.nodes == 1) spec.scale_out = ScaleOutSpec{};  // one node never leaves its NVLink domain
  if (root.has("calibration")) read_calibration(root.child("calibration"), spec.calibration);
  if (root.has("link_overrides")) read_link_overrides(root.value("link_overrides"), spec.link_overrides);
  return spec;
}

fs::path presets_dir() {
  if (const char* env = std::getenv("MOESIM_PLATFORMS")) return env;
  return fs::path(MOESIM_PLATFORMS_DIR);
}

fs::path resolve_platform_path(const std::string& name_or_path, const fs::path& relative_to) {
  std::error_code ec;
  fs::path given(name_or_path);
  std::vector<fs::path> candidates;
  if (given.is_absolute()) return given;
  if (!relative_to.empty()) candidates.push_back(relative_to / given);
  else candidates.push_back(given);
  if (given.extension().empty()) candidates.push_back(presets_dir() / (name_or_path + ".yaml"));
  for (const auto& c : candidates)
    if (fs::exists(c, ec) && !fs::is_directory(c, ec)) return c;
  return candidates.front();
}

std::vector<fs::path> list_presets() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(presets_dir(), ec))
    if (entry.path().extension() == ".yaml") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

const char* to_string(ScaleOutTopology t) {
  switch (t) {
    case ScaleOutTopology::none: return "none";
    case ScaleOutTopology::single_switch: return "single_switch";
    case ScaleOutTopology::fat_tree: return "fat_tree";
    case ScaleOutTopology::rail_optimized: return "rail_optimized";
  }
  return "?";
}
const char* to_string(IntraNodeFabric f) { return f == IntraNodeFabric::nvswitch ? "nvswitch" : "mesh"; }

}  // namespace moesim::topologies
