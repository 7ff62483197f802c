// Data specs of train_data.hpp → token ids.
#include "train_data.hpp"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"

namespace moesim::model {

namespace {
const Tokenizer& need(const Tokenizer* tokenizer, const std::string& spec) {
  if (!tokenizer) throw InputError(fmt::format("data '{}' is text: give --tokenizer (or a model directory that has one)", spec));
  return *tokenizer;
}

std::vector<std::int32_t> read_ids(const std::filesystem::path& file) {
  cli::require_file(file);
  std::ifstream in(file, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() % sizeof(std::int32_t) != 0)
    throw InputError(located(file, fmt::format("{} bytes is not a whole number of int32 token ids", bytes.size())));
  std::vector<std::int32_t> ids(bytes.size() / sizeof(std::int32_t));
  std::memcpy(ids.data(), bytes.data(), bytes.size());
  return ids;
}
}  // namespace

std::vector<std::int32_t> load_token_stream(const std::string& spec, const Tokenizer* tokenizer,
                                            const std::filesystem::path& data_dir, std::size_t max_documents) {
  if (spec.rfind("ids:", 0) == 0) return read_ids(spec.substr(4));
  if (spec.rfind("text:", 0) == 0) return encode_for_model(need(tokenizer, spec), read_text_file(spec.substr(5)), true);
  if (spec.rfind("wikitext2:", 0) == 0)
    return encode_for_model(need(tokenizer, spec), load_wikitext2_hf_joined(data_dir, spec.substr(10), "raw"), true);
  if (spec == "c4") {
    std::vector<std::int32_t> ids;
    for (const C4Document& doc : load_c4(data_dir, max_documents)) {
      std::vector<std::int32_t> d = encode_for_model(need(tokenizer, spec), doc.text, true);
      ids.insert(ids.end(), d.begin(), d.end());
    }
    return ids;
  }
  throw InputError(fmt::format("data '{}': expected wikitext2:train|valid|test, c4, text:FILE or ids:FILE", spec));
}

void write_token_ids(const std::filesystem::path& file, const std::vector<std::int32_t>& ids) {
  write_file_atomically(file, std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(std::int32_t)));
}

}  // namespace moesim::model
