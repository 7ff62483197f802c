#pragma once
// The safetensors format, read and written without LibTorch (so this header is cheap to include).
//
//   [u64 little-endian N][N bytes of JSON header][raw tensor bytes ...]
//   header: {"name": {"dtype": "BF16", "shape": [4096, 14336], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {"format": "pt"}}   offsets are relative to the first byte after the header.
//
// Checkpoints are untrusted input: every header is validated before any byte is handed out (length,
// JSON, dtype, shape × dtype size = byte range, ranges inside the file and not overlapping), and each
// failure is one InputError line naming the file. Files are memory-mapped, so opening a 100 GB
// checkpoint costs only its headers; pages are read when a tensor is converted.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace moesim::model {

// F8_E4M3: float8_e4m3fn as FP8 checkpoints ship it (DeepSeek-V3, Qwen3 FP8), read through a
// lookup table (dequantize.cpp): LibTorch 1.13 has no float8 type.
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3 };

std::size_t dtype_bytes(DType dtype);
const char* dtype_name(DType dtype);  // as written in headers: "F32", "BF16", ...

// One tensor of a mapped file: its bytes stay valid while the file (or checkpoint) lives.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
  const std::filesystem::path* file = nullptr;  // for error messages
  std::int64_t numel() const;
};

// Drops a tensor's pages from this process's mapping once its bytes have been copied out (to the
// GPU, or converted into memory of its own): a checkpoint of hundreds of GB then never stays
// resident, and peak RSS is what the process keeps, not the file's size. The pages come back from
// the file if the bytes are read again.
void release_pages(const TensorView& view);

// One memory-mapped .safetensors file.
class SafetensorsFile {
 public:
  // Header length above this is refused before allocating anything (real headers are < 10 MB).
  static constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) = delete;
  SafetensorsFile(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* find(const std::string& name) const;

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A Hugging Face model directory's weights: model.safetensors, or the shards named by
// model.safetensors.index.json ({"weight_map": {"tensor name": "shard file", ...}}).
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& dir);
  const TensorView* find(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// A tensor to write: bytes are copied to the file as given (row-major, little-endian).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

// Writes one .safetensors file atomically (temp file + rename). Tensors are laid out in name order,
// the header padded with spaces to a multiple of 8 bytes so that data stay aligned.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace moesim::model
