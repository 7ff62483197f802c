#pragma once
// Token streams for training and evaluation, named by a short spec (no LibTorch):
//   wikitext2:train|valid|test   the split as the HF perplexity recipe joins it ("\n\n".join(rows)),
//                                raw variant, from --data-dir; one BOS in front
//   c4                           every C4 document of --data-dir/c4, each encoded with BOS, concatenated
//   text:FILE                    a whole text file, one BOS in front
//   ids:FILE                     token ids already encoded: little-endian int32, no header
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace moesim::model {

class Tokenizer;

// `tokenizer` may be null for ids:FILE. max_documents limits c4 (0: all).
std::vector<std::int32_t> load_token_stream(const std::string& spec, const Tokenizer* tokenizer,
                                            const std::filesystem::path& data_dir, std::size_t max_documents = 0);
void write_token_ids(const std::filesystem::path& file, const std::vector<std::int32_t>& ids);

}  // namespace moesim::model
