#pragma once
// The evaluation and training texts, read from a data directory laid out as ../shared/data is
// (see its SOURCES.md). Nothing is copied into the repository; every loader takes the directory.
//
//   wikitext-2/wiki.{test,valid}.{raw,tokens}, train/wiki.train.{raw,tokens}   WikiText-2
//   c4/*.jsonl, c4/*.json, c4/*.json.gz                                        C4 (allenai/c4 json lines)
//   lambada/lambada_openai.jsonl                                               LAMBADA (OpenAI)
//
// Malformed records throw moesim::InputError "file:line:col: …".
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::model {

// $MOESIM_DATA_DIR if set, else ../shared/data beside the source checkout moesim was built from.
std::filesystem::path default_data_dir();

// The whole text of a file (for `--dataset text:FILE` and the like).
std::string read_text_file(const std::filesystem::path& file);

// ---- WikiText-2 ----
// split: "train" | "valid" (or "validation") | "test"; variant: "raw" (wikitext-2-raw-v1) or
// "tokens" (wikitext-2-v1, with <unk>).
std::filesystem::path wikitext2_file(const std::filesystem::path& data_dir, std::string_view split,
                                     std::string_view variant = "raw");
// The split's file, byte for byte.
std::string load_wikitext2(const std::filesystem::path& data_dir, std::string_view split,
                           std::string_view variant = "raw");
// The split as the Hugging Face perplexity recipe tokenizes it: "\n\n".join(dataset["text"]),
// where the `datasets` rows are the file's lines with their "\n" kept and whitespace-only lines
// turned into "". Use this one to compare perplexities with published transformers numbers.
std::string load_wikitext2_hf_joined(const std::filesystem::path& data_dir, std::string_view split,
                                     std::string_view variant = "raw");

// ---- C4 ----
struct C4Document {
  std::string text, url, timestamp;
};
// One file of C4 json lines: .jsonl / .json plain, or .json.gz as allenai/c4 ships its shards.
std::vector<C4Document> load_c4_file(const std::filesystem::path& file);
// Every *.jsonl, *.json and *.json.gz in data_dir/c4, in file-name order; max_documents 0 = all.
std::vector<C4Document> load_c4(const std::filesystem::path& data_dir, std::size_t max_documents = 0);

// ---- LAMBADA ----
// context + " " + target is the passage; the model must predict all tokens of target.
struct LambadaExample {
  std::string context, target;
};
// Records {"context", "continuation"} (llm-foundry's lambada_openai.jsonl) or {"text"} (OpenAI's
// lambada_test.jsonl; split at the last space).
std::vector<LambadaExample> load_lambada_file(const std::filesystem::path& file);
std::vector<LambadaExample> load_lambada(const std::filesystem::path& data_dir);

}  // namespace moesim::model
