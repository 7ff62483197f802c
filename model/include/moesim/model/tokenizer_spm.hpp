#pragma once
// SentencePiece models (tokenizer.model) and training new ones, through libsentencepiece.
//
// libsentencepiece lives in a plugin (libmoesim_spm_plugin.so) that is dlopen'ed with
// RTLD_LOCAL|RTLD_DEEPBIND on first use, because linking it into a process with LibTorch segfaults
// before main (two protobuf versions; docs/toolchain.md, pitfall 1). The plugin is looked for at
// $MOESIM_SPM_PLUGIN, then beside the running executable (and in ../lib), then in the build tree.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "moesim/model/tokenizer.hpp"

namespace moesim::model {

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file);

struct SentencePieceTrainOptions {
  std::vector<std::filesystem::path> inputs;  // text files, one sentence (line) per line
  std::filesystem::path model_file;           // the .model file to write
  std::int32_t vocab_size = 8000;
  std::string model_type = "unigram";         // unigram | bpe | char | word
  double character_coverage = 1.0;            // 1.0 keeps every character seen (small corpora)
  bool byte_fallback = true;                  // unseen characters become <0xNN> pieces, never <unk>
  std::int64_t input_sentence_size = 0;       // 0: train on every line
  std::int32_t num_threads = 2;
  bool verbose = false;                       // sentencepiece's own training log on stderr
};

// Trains a SentencePiece model with ids unk=0, bos=1, eos=2 (Llama's layout, no pad) and writes
// options.model_file atomically; the same options and input give the same bytes. Throws
// InputError for a missing/empty input or bad options.
void train_sentencepiece(const SentencePieceTrainOptions& options);

}  // namespace moesim::model
