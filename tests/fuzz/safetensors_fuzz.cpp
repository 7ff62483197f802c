// Fuzzes the safetensors header parser (model/src/safetensors.cpp, no LibTorch): the bytes become a
// file, which is mapped and validated; every tensor a successful open hands out is then read in full,
// so a view pointing outside the mapping shows up as an ASan error or a SIGSEGV here.
#include <cstdint>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static moesim::fuzz::ScratchFile scratch(".safetensors");
  const auto& path = scratch.write(data, size);
  try {
    moesim::model::SafetensorsFile file(path);
    unsigned checksum = 0;
    for (const auto& [name, view] : file.tensors()) {
      if (view.numel() < 0 || static_cast<std::uint64_t>(view.numel()) * moesim::model::dtype_bytes(view.dtype) !=
                                  view.bytes.size())
        std::abort();  // the parser promised shape × dtype = byte range
      for (std::byte b : view.bytes) checksum += std::to_integer<unsigned>(b);
    }
    if (checksum == 0xdeadbeef) std::fprintf(stderr, " ");  // keep the reads from being optimised away
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);
  }
  return 0;
}
