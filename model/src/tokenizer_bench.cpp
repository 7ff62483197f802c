// Encode throughput of both tokenizer backends on WikiText-2 test (raw), as a user would feed it:
// the whole split as one string (the perplexity recipe) and line by line (training batches).
// Usage: tokenizer_bench [DATA_DIR]   (default: ../shared/data). Prints tokens/s and their ratio.
#include <fmt/format.h>

#include <chrono>
#include <sstream>

#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"

using namespace moesim::model;
namespace fs = std::filesystem;

namespace {

struct Rate {
  std::size_t tokens = 0;
  double seconds = 0;
  double per_s() const { return static_cast<double>(tokens) / seconds; }
};

// The first run (cold: the BPE word cache is empty) and the best of 3 (warm).
template <typename F>
std::pair<Rate, Rate> timed(F&& encode) {
  Rate first{}, best{0, 1e300};
  for (int rep = 0; rep < 3; ++rep) {
    auto start = std::chrono::steady_clock::now();
    std::size_t tokens = encode();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep == 0) first = {tokens, s};
    if (s < best.seconds) best = {tokens, s};
  }
  return {first, best};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path data = argc > 1 ? fs::path(argv[1]) : default_data_dir();
  std::string text = load_wikitext2(data, "test", "raw");
  std::vector<std::string> lines = lines_of(text);
  fmt::print("WikiText-2 test raw: {} bytes, {} lines\n", text.size(), lines.size());
  fmt::print("{:<14} {:>10} {:>16} {:>16} {:>16}\n", "tokenizer", "tokens", "whole cold tok/s", "whole warm tok/s",
             "per-line tok/s");
  std::vector<Rate> whole_rates;
  for (const char* file : {"tokenizers/llama2_tokenizer.model",
                           "tokenizers/olmoe_allenai_gpt-neox-olmo-dolma-v1_5.tokenizer.json"}) {
    auto tok = load_tokenizer(data / file);
    // Cold first: a fresh tokenizer, nothing cached.
    auto [whole_cold, whole] = timed([&] { return tok->encode(text).size(); });
    auto [per_line_cold, per_line] = timed([&] {
      std::size_t n = 0;
      for (const std::string& line : lines) n += tok->encode(line).size();
      return n;
    });
    fmt::print("{:<14} {:>10} {:>16.3g} {:>16.3g} {:>16.3g}\n", tok->kind(), whole.tokens, whole_cold.per_s(),
               whole.per_s(), per_line.per_s());
    whole_rates.push_back(whole);
  }
  fmt::print("bpe / sentencepiece whole-text throughput: {:.2f}x\n", whole_rates[1].per_s() / whole_rates[0].per_s());
  return 0;
}
