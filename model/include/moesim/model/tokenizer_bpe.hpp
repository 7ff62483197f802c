#pragma once
// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2 lineage: OLMoE, Qwen, DeepSeek,
// Llama 3), reproducing the `tokenizers` library's ids:
//   1. added tokens with normalized=false are cut out of the raw text (leftmost-longest match)
//   2. the normalizer runs on the rest (NFC through ICU; Sequence of NFC/none)
//   3. added tokens with normalized=true are cut out of the normalized text
//   4. the pre-tokenizer splits each remaining piece: ByteLevel (GPT-2 regex), Split (the file's
//      regex, run by PCRE2 in UTF + Unicode-property mode), or a Sequence of them
//   5. each piece's bytes become the GPT-2 byte-to-unicode symbols and BPE merges them by rank
// Decoding maps symbols back to bytes (invalid UTF-8 becomes U+FFFD, as `tokenizers` does).
// Anything else in a tokenizer.json (WordPiece, Metaspace, unknown normalizers, …) is rejected
// with an InputError naming the file and the unsupported part.
#include <filesystem>
#include <memory>

#include "moesim/common/error.hpp"
#include "moesim/model/tokenizer.hpp"

namespace moesim::model {

// A well-formed tokenizer.json of a kind moesim does not run (e.g. Mixtral's Metaspace +
// byte_fallback BPE); load_tokenizer(dir) then falls back to the directory's tokenizer.model.
class UnsupportedTokenizerJson : public InputError {
 public:
  using InputError::InputError;
};

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::filesystem::path& tokenizer_json);

}  // namespace moesim::model
