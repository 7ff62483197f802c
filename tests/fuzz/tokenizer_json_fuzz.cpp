// Fuzzes the tokenizer.json reader (model/src/tokenizer_bpe.cpp, no LibTorch): the bytes become a
// tokenizer.json; a file that loads must then encode and decode without crashing, since the file
// chooses the regex (PCRE2), the normalizer, the vocabulary and the merges that encoding runs.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/tokenizer_bpe.hpp"

namespace {
// Text that reaches every stage: added-token cuts, NFC, the pre-tokenizer regex, bytes ≥ 0x80.
const char* const kTexts[] = {
    "Hello world, it's 2024!  ",
    "<|endoftext|>tokens\n\n\tand 12345 numbers",
    "caf\xc3\xa9 cafe\xcc\x81 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80",
    "",
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static moesim::fuzz::ScratchFile scratch(".tokenizer.json");
  const auto& path = scratch.write(data, size);
  try {
    auto tok = moesim::model::load_bpe_tokenizer(path);
    for (const char* text : kTexts) {
      std::vector<std::int32_t> ids = tok->encode(text);
      for (std::int32_t id : ids)
        if (id < 0 || id >= tok->vocab_size()) std::abort();  // encode must only produce ids decode accepts
      (void)tok->decode(ids);
    }
    std::vector<std::int32_t> all;
    for (std::int32_t id = 0; id < tok->vocab_size() && id < 4096; ++id) all.push_back(id);
    (void)tok->decode(all);
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);
  }
  return 0;
}
