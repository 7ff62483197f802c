#include "moesim/model/safetensors.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"

namespace moesim::model {
namespace {

using nlohmann::json;

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t bytes;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4}, {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1},  {DType::kF8E4M3, "F8_E4M3", 1},
};

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& message) {
  throw InputError(located(file, message));
}

DType parse_dtype(const std::filesystem::path& file, const std::string& tensor, const json& value) {
  if (value.is_string()) {
    for (const auto& d : kDTypes)
      if (value.get<std::string>() == d.name) return d.dtype;
  }
  bad(file, fmt::format("tensor '{}': unsupported dtype {} (supported: F32, BF16, F16, F64, I64, I32, I16, I8, U8, BOOL, F8_E4M3)",
                        tensor, value.dump()));
}

// Product of the shape, or nullopt-like -1 when it overflows.
std::int64_t checked_numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

TensorView parse_entry(const std::filesystem::path& file, const std::string& name, const json& entry,
                       std::uint64_t data_bytes, std::pair<std::uint64_t, std::uint64_t>& range) {
  if (!entry.is_object()) bad(file, fmt::format("tensor '{}': header entry is not an object", name));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) bad(file, fmt::format("tensor '{}': header entry has no '{}'", name, key));
  TensorView view;
  view.name = name;
  view.dtype = parse_dtype(file, name, entry["dtype"]);
  const json& shape = entry["shape"];
  if (!shape.is_array()) bad(file, fmt::format("tensor '{}': shape is not an array", name));
  for (const json& d : shape) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
      bad(file, fmt::format("tensor '{}': shape {} has a non-integer or negative dimension", name, shape.dump()));
    view.shape.push_back(d.get<std::int64_t>());
  }
  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    bad(file, fmt::format("tensor '{}': data_offsets {} is not a pair of non-negative integers", name, offsets.dump()));
  std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
  if (begin > end) bad(file, fmt::format("tensor '{}': data_offsets [{}, {}] end before they begin", name, begin, end));
  if (end > data_bytes)
    bad(file, fmt::format("tensor '{}': data_offsets [{}, {}] go beyond the file's {} data bytes (truncated file?)",
                          name, begin, end, data_bytes));
  std::int64_t numel = checked_numel(view.shape);
  std::uint64_t want = numel < 0 ? 0 : static_cast<std::uint64_t>(numel) * dtype_bytes(view.dtype);
  if (numel < 0 || (numel > 0 && want / static_cast<std::uint64_t>(numel) != dtype_bytes(view.dtype)) ||
      want != end - begin)
    bad(file, fmt::format("tensor '{}': shape {} × {} needs {} bytes but data_offsets [{}, {}] hold {}", name,
                          shape.dump(), dtype_name(view.dtype), want, begin, end, end - begin));
  range = {begin, end};
  return view;
}

}  // namespace

void release_pages(const TensorView& view) {
  if (view.bytes.empty()) return;
  static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<std::uintptr_t>(view.bytes.data()) & ~(page - 1);
  auto end = reinterpret_cast<std::uintptr_t>(view.bytes.data() + view.bytes.size());
  // Advice only: pages shared with a neighbouring tensor are simply read again from the file.
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

std::size_t dtype_bytes(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.bytes;
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

std::int64_t TensorView::numel() const { return checked_numel(shape); }

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) bad(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    bad(path, "not a regular file");
  }
  auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (file_bytes < 8) {
    ::close(fd);
    bad(path, fmt::format("{} bytes is too short for a safetensors file (needs an 8-byte header length)", file_bytes));
  }
  map_ = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    bad(path, std::string("cannot mmap: ") + std::strerror(errno));
  }
  map_bytes_ = file_bytes;
  // A constructor that throws runs no destructor: without this guard every refusal below left the
  // mapping behind (found by fuzzing: after 65,530 bad files, the kernel's limit on mappings, the
  // next mmap failed).
  struct UnmapUnlessParsed {
    void*& map;
    std::size_t bytes;
    bool parsed = false;
    ~UnmapUnlessParsed() {
      if (!parsed && map) ::munmap(map, bytes);
      if (!parsed) map = nullptr;
    }
  } guard{map_, map_bytes_};
  const auto* base = static_cast<const std::byte*>(map_);

  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | std::to_integer<std::uint64_t>(base[i]);
  if (header_bytes > kMaxHeaderBytes || header_bytes > file_bytes - 8)
    bad(path, fmt::format("header length {} is absurd for a {}-byte file (limit {} bytes): not a safetensors file?",
                          header_bytes, file_bytes, kMaxHeaderBytes));
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(base + 8), reinterpret_cast<const char*>(base + 8 + header_bytes));
  } catch (const json::parse_error& e) {
    bad(path, fmt::format("header is not valid JSON (byte {} of the header): {}", e.byte, e.what()));
  } catch (const json::out_of_range& e) {  // a number like 8E800000000 (found by fuzzing the tokenizer)
    bad(path, fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object()) bad(path, "header is not a JSON object");

  const std::byte* data = base + 8 + header_bytes;
  const std::uint64_t data_bytes = file_bytes - 8 - header_bytes;
  std::vector<std::pair<std::pair<std::uint64_t, std::uint64_t>, std::string>> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) bad(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items())
        if (v.is_string()) metadata_[k] = v.get<std::string>();
      continue;
    }
    std::pair<std::uint64_t, std::uint64_t> range;
    TensorView view = parse_entry(path, name, entry, data_bytes, range);
    view.bytes = std::span<const std::byte>(data + range.first, range.second - range.first);
    view.file = &path_;
    tensors_.emplace(name, std::move(view));
    ranges.push_back({range, name});
  }
  // Overlapping byte ranges would let one write alias another tensor: refuse them.
  std::sort(ranges.begin(), ranges.end());
  const std::pair<std::pair<std::uint64_t, std::uint64_t>, std::string>* furthest = nullptr;
  for (const auto& r : ranges) {
    if (r.first.first == r.first.second) continue;  // empty tensors occupy no bytes
    if (furthest && r.first.first < furthest->first.second)
      bad(path, fmt::format("tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", furthest->second, furthest->first.first,
                            furthest->first.second, r.second, r.first.first, r.first.second));
    if (!furthest || r.first.second > furthest->first.second) furthest = &r;
  }
  guard.parsed = true;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_bytes_);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      map_bytes_(other.map_bytes_),
      tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)) {
  for (auto& [name, view] : tensors_) view.file = &path_;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Checkpoint::Checkpoint(const std::filesystem::path& dir) : dir_(dir) {
  const auto index_path = dir / "model.safetensors.index.json";
  const auto single_path = dir / "model.safetensors";
  if (std::filesystem::exists(index_path)) {
    std::ifstream in(index_path);
    json index;
    try {
      index = json::parse(in);
    } catch (const json::parse_error& e) {
      bad(index_path, fmt::format("not valid JSON (byte {}): {}", e.byte, e.what()));
    } catch (const json::exception& e) {  // a number beyond a double (1e400 as total_size): out_of_range
      bad(index_path, fmt::format("not valid JSON: {}", e.what()));
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      bad(index_path, "has no \"weight_map\" object");
    std::map<std::string, SafetensorsFile*> shards;
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) bad(index_path, fmt::format("weight_map['{}'] is not a file name", name));
      const std::string file = shard.get<std::string>();
      // The index is untrusted: a shard must be a plain file name inside the model directory.
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
        bad(index_path, fmt::format("weight_map['{}'] = '{}' is not a file name inside the model directory", name, file));
      auto it = shards.find(file);
      if (it == shards.end()) {
        // The non-throwing form: a name the file system refuses (longer than NAME_MAX: found by
        // fuzzing) is the index's fault, not an uncaught filesystem_error.
        std::error_code error;
        const bool present = std::filesystem::exists(dir / file, error);
        if (error)
          bad(index_path, fmt::format("weight_map['{}'] = '{}': {}", name, file, error.message()));
        if (!present)
          bad(index_path, fmt::format("shard '{}' (holding '{}') does not exist in {}", file, name, dir.string()));
        files_.push_back(std::make_unique<SafetensorsFile>(dir / file));
        it = shards.emplace(file, files_.back().get()).first;
      }
      const TensorView* view = it->second->find(name);
      if (!view) bad(dir / file, fmt::format("has no tensor '{}' although {} says so", name, index_path.filename().string()));
      index_[name] = view;
    }
  } else if (std::filesystem::exists(single_path)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (const auto& [name, view] : files_.back()->tensors()) index_[name] = &view;
  } else {
    throw InputError(located(dir, "no model.safetensors or model.safetensors.index.json in this directory"));
  }
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, view] : index_) out.push_back(name);
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> ordered;
  for (const auto& t : tensors) ordered.push_back(&t);
  std::sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->name < b->name; });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto* t : ordered) {
    if (!seen.insert(t->name).second) throw std::invalid_argument("write_safetensors: duplicate tensor " + t->name);
    std::int64_t numel = checked_numel(t->shape);
    if (numel < 0 || static_cast<std::uint64_t>(numel) * dtype_bytes(t->dtype) != t->bytes.size())
      throw std::invalid_argument(fmt::format("write_safetensors: tensor {} has {} bytes, its shape needs {}", t->name,
                                              t->bytes.size(), numel * static_cast<std::int64_t>(dtype_bytes(t->dtype))));
    header[t->name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    unsigned char length[8];
    std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    f.write(reinterpret_cast<const char*>(length), 8);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto* t : ordered)
      f.write(reinterpret_cast<const char*>(t->bytes.data()), static_cast<std::streamsize>(t->bytes.size()));
    if (!f) throw std::runtime_error(located(path, "write failed"));
  }
  out.commit();
}

}  // namespace moesim::model
