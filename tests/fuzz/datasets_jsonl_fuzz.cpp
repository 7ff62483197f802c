// Fuzzes the JSON-lines data-set readers (model/src/datasets.cpp: C4 documents and LAMBADA
// examples; moesim eval-ppl, capture, train read them from ../shared/data). The first byte picks
// the reader (its low bit: C4 or LAMBADA); the rest is the file. A file that loads must give
// records whose fields the model code uses without checks: LAMBADA targets are non-empty.
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static moesim::fuzz::ScratchFile file(".jsonl");
  const auto& path = file.write(data + 1, size - 1);
  try {
    if (data[0] & 1) {
      for (const auto& example : moesim::model::load_lambada_file(path))
        if (example.target.empty()) std::abort();  // the last word to predict: eval-ppl divides by its tokens
    } else {
      std::size_t bytes = 0;
      for (const auto& doc : moesim::model::load_c4_file(path)) bytes += doc.text.size();
      if (bytes > size) std::abort();  // text comes from the file: never more of it than the file holds
    }
  } catch (const moesim::InputError& e) {
    moesim::fuzz::expect_one_line_naming(e.what(), path);
  }
  return 0;
}
