#pragma once
// Text ↔ token ids for the models moesim runs, with no LibTorch in sight (ids are plain int32).
//
// Two backends behind one interface:
//   SentencePiece  tokenizer.model (Llama 2, Mixtral, moesim's own default model), through
//                  libsentencepiece in a dlopen'ed plugin (tokenizer_spm.hpp)
//   byte-level BPE Hugging Face tokenizer.json (Qwen, OLMoE, DeepSeek, Llama 3) (tokenizer_bpe.hpp)
//
// encode() adds no BOS/EOS (as `add_special_tokens=False` / spm's Encode); encode_for_model() does.
// All methods are const and safe to call from several threads at once.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::model {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Throws moesim::InputError if text is not valid UTF-8.
  virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
  // Ids outside [0, vocab_size()) throw moesim::InputError.
  virtual std::string decode(std::span<const std::int32_t> ids) const = 0;
  // Number of ids the tokenizer can produce (highest id + 1), added tokens included.
  virtual std::int32_t vocab_size() const = 0;
  virtual std::optional<std::int32_t> bos_id() const = 0;
  virtual std::optional<std::int32_t> eos_id() const = 0;
  // "sentencepiece" or "bpe" (tokenizer.json byte-level BPE).
  virtual std::string kind() const = 0;
  // The file it was loaded from.
  virtual const std::filesystem::path& path() const = 0;
};

// `path` is a tokenizer.json, a SentencePiece .model, or a model directory holding either
// (tokenizer.json preferred, as transformers' fast tokenizers do; a tokenizer.json that is not
// byte-level BPE, such as Mixtral's, falls back to the directory's tokenizer.model). A file is a
// tokenizer.json if it ends in .json or starts with '{'. Throws moesim::InputError naming the
// file when it is missing, malformed or unsupported.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

// encode(), with BOS in front (if the tokenizer has one and add_bos) and EOS behind (if add_eos).
std::vector<std::int32_t> encode_for_model(const Tokenizer& tokenizer, std::string_view text, bool add_bos,
                                           bool add_eos = false);

}  // namespace moesim::model
