// Choosing a tokenizer backend from a path, and the BOS/EOS convenience shared by both backends.
#include "moesim/model/tokenizer.hpp"

#include <fstream>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/model/tokenizer_bpe.hpp"
#include "moesim/model/tokenizer_spm.hpp"

namespace moesim::model {

namespace fs = std::filesystem;

// In a model directory, tokenizer.json wins: it is what transformers' fast tokenizers load, and
// Hugging Face repositories that ship both give the same ids through either.
static fs::path tokenizer_file_in(const fs::path& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    if (fs::is_regular_file(dir / name)) return dir / name;
  }
  throw InputError(located(dir, "no tokenizer.json or tokenizer.model in this directory"));
}

static bool starts_like_json(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char c = 0;
  while (in.get(c)) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return c == '{';
  }
  return false;
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path file = tokenizer_file_in(path);
    if (file.filename() == "tokenizer.json" && fs::is_regular_file(path / "tokenizer.model")) {
      try {
        return load_bpe_tokenizer(file);
      } catch (const UnsupportedTokenizerJson&) {
        return load_sentencepiece_tokenizer(path / "tokenizer.model");  // e.g. Mixtral, Llama 2
      }
    }
    return load_tokenizer(file);
  }
  fs::path file = path;
  cli::require_file(file);
  // tokenizer.json is JSON text; a SentencePiece model is a binary protobuf, which never starts
  // with '{' (its first byte is a field tag). Sniffing lets renamed copies load too.
  if (file.extension() == ".json" || starts_like_json(file)) return load_bpe_tokenizer(file);
  return load_sentencepiece_tokenizer(file);
}

std::vector<std::int32_t> encode_for_model(const Tokenizer& tokenizer, std::string_view text, bool add_bos,
                                           bool add_eos) {
  std::vector<std::int32_t> body = tokenizer.encode(text);
  std::vector<std::int32_t> ids;
  ids.reserve(body.size() + 2);
  if (add_bos && tokenizer.bos_id()) ids.push_back(*tokenizer.bos_id());
  ids.insert(ids.end(), body.begin(), body.end());
  if (add_eos && tokenizer.eos_id()) ids.push_back(*tokenizer.eos_id());
  return ids;
}

}  // namespace moesim::model
