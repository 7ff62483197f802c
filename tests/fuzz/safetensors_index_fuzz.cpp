// Fuzzes the sharded-checkpoint index (model.safetensors.index.json, model/src/safetensors.cpp's
// Checkpoint): the bytes become the index of a model directory that also holds one real shard,
// shard-1.safetensors with tensors "a" and "b". An index that loads must map every name it lists to a
// tensor of a shard inside the directory; a shard name escaping it ("../x", "/etc/passwd") or a
// missing tensor must end in moesim::InputError.
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/safetensors.hpp"

namespace {

// A model directory with one real shard; removed at exit (one object, so no order of statics to get wrong).
class ModelDir {
 public:
  ModelDir() {
    dir_ = moesim::fuzz::scratch_path("-index");
    std::filesystem::create_directories(dir_);
    static const std::array<float, 2> values{1.0f, 2.0f};
    const auto bytes = std::as_bytes(std::span(values));
    moesim::model::write_safetensors(dir_ / "shard-1.safetensors",
                                     {{"a", moesim::model::DType::kF32, {2}, bytes},
                                      {"b", moesim::model::DType::kF32, {1}, bytes.subspan(0, 4)}});
  }
  ~ModelDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ModelDir model;
  const std::filesystem::path& dir = model.path();
  const std::filesystem::path index = dir / "model.safetensors.index.json";
  {
    std::ofstream out(index, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) std::abort();
  }
  try {
    moesim::model::Checkpoint checkpoint(dir);
    for (const std::string& name : checkpoint.names()) {
      const moesim::model::TensorView* view = checkpoint.find(name);
      if (!view || (name != "a" && name != "b")) std::abort();  // only the shard's own tensors exist
    }
  } catch (const moesim::InputError& e) {
    // Errors name the index, or the shard the index points at: either is a file of this model.
    moesim::fuzz::expect_one_line_naming(e.what(), dir);
  }
  return 0;
}
