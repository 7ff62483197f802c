// moesim-gpu has no tokenizers or text loaders (they need ICU, PCRE2 and sentencepiece): data must
// come as token ids (ids:FILE, written here by `moesim train --write-ids`). These stand-ins say so.
#include "moesim/common/error.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"

namespace moesim::model {
namespace {
[[noreturn]] void no_text() {
  throw InputError("moesim-gpu reads token ids only: pass --train-data ids:FILE --valid-data ids:FILE");
}
}  // namespace
std::filesystem::path default_data_dir() { return "."; }
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path&) { no_text(); }
std::vector<std::int32_t> encode_for_model(const Tokenizer&, std::string_view, bool, bool) { no_text(); }
std::string read_text_file(const std::filesystem::path&) { no_text(); }
std::string load_wikitext2_hf_joined(const std::filesystem::path&, std::string_view, std::string_view) { no_text(); }
std::vector<C4Document> load_c4(const std::filesystem::path&, std::size_t) { no_text(); }
}  // namespace moesim::model
