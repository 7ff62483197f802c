// `moesim tokenize`: text to ids (or ids back to text) with any tokenizer moesim reads, and
// `moesim tokenizer-train`: a new SentencePiece model from text files.
#include "moesim/model/tokenize_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>

#include "moesim/common/error.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"
#include "moesim/model/tokenizer_spm.hpp"

namespace moesim::model {

namespace {

struct TokenizeOptions {
  std::string tokenizer, text, file, decode;
  bool bos = false, eos = false, json = false;
};

std::vector<std::int32_t> parse_ids(const std::string& list) {
  std::vector<std::int32_t> ids;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      long value = std::stol(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      ids.push_back(static_cast<std::int32_t>(value));
    } catch (const std::exception&) {
      throw InputError(fmt::format("--decode: '{}' is not an integer id (expected e.g. 1,2,3)", item));
    }
  }
  return ids;
}

int run_tokenize(const TokenizeOptions& o) {
  auto tokenizer = load_tokenizer(o.tokenizer);
  nlohmann::json result = {{"tokenizer", tokenizer->path().string()},
                           {"kind", tokenizer->kind()},
                           {"vocab_size", tokenizer->vocab_size()}};
  if (!o.decode.empty()) {
    std::string text = tokenizer->decode(parse_ids(o.decode));
    result["text"] = text;
    if (o.json) cli::print_json(result);
    else std::cout << text << '\n';
    return kExitOk;
  }
  std::string text = o.file.empty() ? o.text : read_text_file(o.file);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::int32_t> ids = encode_for_model(*tokenizer, text, o.bos, o.eos);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.json) {
    result["ids"] = ids;
    result["count"] = ids.size();
    result["bytes"] = text.size();
    result["encode_s"] = seconds;
    result["tokens_per_s"] = seconds > 0 ? static_cast<double>(ids.size()) / seconds : 0.0;
    cli::print_json(result);
  } else {
    std::cout << fmt::format("{}", fmt::join(ids, " ")) << '\n';
    if (!o.file.empty()) {
      fmt::print(stderr, "{} tokens from {} bytes in {:.3f} s ({:.3g} tokens/s)\n", ids.size(), text.size(), seconds,
                 seconds > 0 ? static_cast<double>(ids.size()) / seconds : 0.0);
    }
  }
  return kExitOk;
}

void add_tokenize(cli::Commands& commands, CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = commands.add(
      app, "tokenize", "Print the token ids of a text (or the text of ids) with a tokenizer.json or tokenizer.model",
      "moesim tokenize --tokenizer ../shared/data/tokenizers/llama2_tokenizer.model --text \"Hello world\" --bos",
      [o] { return run_tokenize(*o); });
  cmd->add_option("-t,--tokenizer", o->tokenizer, "tokenizer.json, SentencePiece .model, or a model directory")
      ->required();
  auto* text = cmd->add_option("--text", o->text, "Text to encode");
  auto* file = cmd->add_option("--file", o->file, "Encode this file's whole text (prints timing on stderr)");
  auto* decode = cmd->add_option("--decode", o->decode, "Comma-separated ids to decode instead, e.g. 1,15043,3186");
  text->excludes(file)->excludes(decode);
  file->excludes(decode);
  cmd->add_flag("--bos", o->bos, "Put the tokenizer's BOS id in front");
  cmd->add_flag("--eos", o->eos, "Put the tokenizer's EOS id at the end");
  cli::add_json_flag(cmd, o->json);
}

struct TrainOptions {
  std::vector<std::string> inputs;
  std::string out, model_type = "unigram";
  std::int32_t vocab_size = 8000;
  double character_coverage = 1.0;
  std::int64_t input_sentence_size = 0;
  bool no_byte_fallback = false, verbose = false, json = false;
};

int run_train(const TrainOptions& o) {
  SentencePieceTrainOptions options;
  for (const std::string& input : o.inputs) options.inputs.emplace_back(input);
  options.model_file = o.out;
  options.vocab_size = o.vocab_size;
  options.model_type = o.model_type;
  options.character_coverage = o.character_coverage;
  options.input_sentence_size = o.input_sentence_size;
  options.byte_fallback = !o.no_byte_fallback;
  options.verbose = o.verbose;
  auto start = std::chrono::steady_clock::now();
  train_sentencepiece(options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto tokenizer = load_tokenizer(o.out);
  nlohmann::json result = {{"model", o.out}, {"vocab_size", tokenizer->vocab_size()}, {"train_s", seconds}};
  if (o.json) cli::print_json(result);
  else fmt::print("wrote {} ({} pieces) in {:.1f} s\n", o.out, tokenizer->vocab_size(), seconds);
  return kExitOk;
}

void add_tokenizer_train(cli::Commands& commands, CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = commands.add(
      app, "tokenizer-train", "Train a SentencePiece tokenizer (tokenizer.model) on text files",
      "moesim tokenizer-train --input ../shared/data/train/wiki.train.raw --vocab-size 8000 --out tokenizer.model",
      [o] { return run_train(*o); });
  cmd->add_option("-i,--input", o->inputs, "Text file(s), one sentence or paragraph per line")->required();
  cmd->add_option("-o,--out", o->out, "Model file to write (must end in .model)")
      ->required();
  cmd->add_option("--vocab-size", o->vocab_size, "Number of pieces")->check(CLI::Range(8, 1 << 20));
  cmd->add_option("--model-type", o->model_type, "unigram, bpe, char or word")
      ->check(CLI::IsMember({"unigram", "bpe", "char", "word"}));
  cmd->add_option("--character-coverage", o->character_coverage, "Fraction of characters kept as pieces")
      ->check(cli::positive<decltype(o->character_coverage)>())->check(CLI::Range(0.5, 1.0));  // Range lets NaN through
  cmd->add_option("--input-sentence-size", o->input_sentence_size, "Sample this many lines (0: all)")->check(cli::non_negative<decltype(o->input_sentence_size)>());
  cmd->add_flag("--no-byte-fallback", o->no_byte_fallback, "Map unseen characters to <unk> instead of bytes");
  cmd->add_flag("-v,--verbose", o->verbose, "Show sentencepiece's training log");
  cli::add_json_flag(cmd, o->json);
}

}  // namespace

void register_tokenize_commands(cli::Commands& commands, CLI::App& app) {
  add_tokenize(commands, app);
  add_tokenizer_train(commands, app);
}

}  // namespace moesim::model
