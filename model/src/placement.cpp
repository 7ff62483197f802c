// Where each decoder layer lives (network.hpp's Placement): contiguous blocks over the devices a
// user lists, or --device auto, which fills each GPU's free memory with the next layers in order
// and leaves the rest on the CPU, so that a checkpoint larger than the GPUs still runs.
#include <fmt/format.h>
#include <torch/cuda.h>

#include <charconv>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "cuda_memory.hpp"
#include "moesim/common/error.hpp"
#include "network.hpp"

namespace moesim::model {
namespace {

// Share of a GPU's free memory left for activations, the routing copies and LibTorch's workspaces:
// capture at batch 4 × 2048 on DeepSeek-V3 shapes needs a few GB of the 80 an H100 has.
constexpr double kActivationReserve = 0.10;
constexpr double kBytesPerGB = 1e9;

// "model.layers.12.mlp.experts…" or "language_model.model.layers.12.…" → 12; −1 outside the layers.
int layer_of(const std::string& name) {
  static const std::string key = "layers.";
  const std::size_t at = name.find(key);
  if (at == std::string::npos || (at > 0 && name[at - 1] != '.')) return -1;
  const char* begin = name.data() + at + key.size();
  const char* end = name.data() + name.size();
  int layer = -1;
  auto [next, error] = std::from_chars(begin, end, layer);
  return error == std::errc() && next < end && *next == '.' ? layer : -1;
}

// Bytes one checkpoint tensor takes once loaded: plain tensors in the model dtype; FP8 weights
// dequantized to it (their scales dropped); MXFP4 blocks two values a byte, dequantized to it,
// unless the experts stay quantized, when blocks and scales keep their stored bytes.
std::uint64_t loaded_bytes(const TensorView& t, std::size_t dtype_size, bool mxfp4_kept) {
  const auto stored = static_cast<std::uint64_t>(t.bytes.size());
  const auto numel = static_cast<std::uint64_t>(t.numel());
  if (t.name.ends_with("_scale_inv")) return 0;
  if (t.name.ends_with("_scales")) return mxfp4_kept ? stored : 0;
  if (t.name.ends_with("_blocks") && t.dtype == DType::kU8) return mxfp4_kept ? stored : 2 * numel * dtype_size;
  return numel * dtype_size;
}

// The host's MemAvailable (/proc/meminfo): what can be taken without swapping.
std::uint64_t host_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    std::uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  throw std::runtime_error("--device auto: /proc/meminfo has no MemAvailable");  // exit 1: not the user's input
}

}  // namespace

Placement Placement::contiguous(const std::vector<at::Device>& devices, int num_layers) {
  Placement p;
  const auto D = static_cast<std::int64_t>(devices.size());
  for (std::int64_t l = 0; l < num_layers; ++l) p.layer.push_back(devices[l * D / num_layers]);
  return p;
}

Placement Placement::by_memory(const std::vector<at::Device>& devices, const std::vector<std::uint64_t>& layer_bytes,
                               const std::vector<std::uint64_t>& capacity_bytes) {
  const std::uint64_t needed = std::accumulate(layer_bytes.begin(), layer_bytes.end(), std::uint64_t{0});
  const std::uint64_t free = std::accumulate(capacity_bytes.begin(), capacity_bytes.end(), std::uint64_t{0});
  if (needed > free) {
    std::string devices_free;
    for (std::size_t d = 0; d < devices.size(); ++d)
      devices_free += fmt::format("{}{} {:.1f} GB", d ? ", " : "", devices[d].str(), capacity_bytes[d] / kBytesPerGB);
    throw InputError(fmt::format("--device auto: the weights need {:.1f} GB and the devices have {} free", needed / kBytesPerGB,
                                 devices_free));
  }
  Placement p;
  std::size_t d = 0;
  std::uint64_t used = 0;
  for (std::uint64_t bytes : layer_bytes) {
    while (d + 1 < devices.size() && used + bytes > capacity_bytes[d]) d += 1, used = 0;  // the last takes the rest
    p.layer.push_back(devices[d]);
    used += bytes;
  }
  return p;
}

std::string Placement::describe() const {
  std::string out;
  for (std::size_t begin = 0, end = 0; begin < layer.size(); begin = end) {
    end = begin;
    while (end < layer.size() && layer[end] == layer[begin]) ++end;
    const std::string range = end - begin == 1 ? fmt::format("{}", begin) : fmt::format("{}-{}", begin, end - 1);
    out += fmt::format("{}{} on {}", out.empty() ? "layers " : ", ", range, layer[begin].str());
  }
  return out;
}

std::vector<std::uint64_t> layer_bytes(const Checkpoint& checkpoint, const ModelConfig& c, at::ScalarType dtype,
                                       bool mxfp4_kept) {
  const std::size_t dtype_size = c10::elementSize(dtype);
  std::vector<std::uint64_t> bytes(static_cast<std::size_t>(c.num_layers), 0);
  for (const std::string& name : checkpoint.names()) {
    const TensorView& t = *checkpoint.find(name);
    const std::uint64_t b = loaded_bytes(t, dtype_size, mxfp4_kept);
    const int layer = layer_of(name);
    if (layer >= c.num_layers) continue;  // multi-token-prediction layers (DeepSeek-V3): never loaded
    if (layer >= 0) bytes[static_cast<std::size_t>(layer)] += b;
    else if (name.find("embed") != std::string::npos) {  // the embedding, on the first layer's device,
      bytes.front() += b;
      if (c.tie_word_embeddings) bytes.back() += b;  // and copied to the last one as a tied LM head
    } else {
      bytes.back() += b;  // final norm, LM head (and parts never loaded, such as a vision tower: over-counted)
    }
  }
  return bytes;
}

Placement auto_placement(const std::filesystem::path& dir, const ModelConfig& c, at::ScalarType dtype, bool mxfp4_kept) {
  std::vector<at::Device> devices;
  std::vector<std::uint64_t> capacity;
  const int gpus = static_cast<int>(torch::cuda::device_count());  // 0 in a LibTorch without CUDA
  for (int g = 0; g < gpus; ++g) {
    devices.emplace_back(at::kCUDA, static_cast<c10::DeviceIndex>(g));
    capacity.push_back(static_cast<std::uint64_t>(static_cast<double>(cuda_free_bytes(g)) * (1 - kActivationReserve)));
  }
  devices.emplace_back(at::kCPU);
  capacity.push_back(host_available_bytes());
  return Placement::by_memory(devices, layer_bytes(Checkpoint(dir), c, dtype, mxfp4_kept), capacity);
}

}  // namespace moesim::model
