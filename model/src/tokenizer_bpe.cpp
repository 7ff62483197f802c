// Hugging Face tokenizer.json byte-level BPE, step by step as the `tokenizers` library runs it
// (see tokenizer_bpe.hpp for the pipeline). Reference: tokenizers/src/{tokenizer/added_vocabulary.rs,
// pre_tokenizers/byte_level.rs, pre_tokenizers/split.rs, models/bpe/word.rs}.
#include "moesim/model/tokenizer_bpe.hpp"

#include <fmt/format.h>
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/json_number.hpp"
#include "tokenizer_added_tokens.hpp"
#include "tokenizer_pretokenize.hpp"
#include "tokenizer_utf8.hpp"

namespace moesim::model {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Words longer than this are encoded but not cached (long runs are rare and would bloat the cache).
constexpr std::size_t kMaxCachedWordBytes = 256;
constexpr std::size_t kMaxCacheEntries = 1 << 18;

void append_utf8(std::string& out, UChar32 c) {
  char buf[U8_MAX_LENGTH];
  int32_t n = 0;
  U8_APPEND_UNSAFE(buf, n, c);
  out.append(buf, static_cast<std::size_t>(n));
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order, so that every byte is a visible, non-space character in the vocabulary.
std::array<UChar32, 256> byte_to_codepoint() {
  std::array<UChar32, 256> table{};
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[static_cast<std::size_t>(b)] = printable ? b : 256 + next++;
  }
  return table;
}

struct MergeRule {
  std::int32_t rank = 0, merged_id = 0;
};

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(fs::path file, const json& spec) : file_(std::move(file)) {
    load_model(spec.at("model"));
    load_added_tokens(spec.value("added_tokens", json::array()));
    load_normalizer(spec.value("normalizer", json()));
    load_pre_tokenizer(spec.value("pre_tokenizer", json()));
    load_decoder(spec.value("decoder", json()));
    find_bos_eos();
  }

  std::vector<std::int32_t> encode(std::string_view text) const override {
    require_utf8(text);
    std::vector<Segment> segments{{std::string(text), -1}};
    segments = raw_added_.split(std::move(segments));
    for (Segment& seg : segments) {
      if (seg.id < 0) seg.text = normalize(seg.text);
    }
    segments = normalized_added_.split(std::move(segments));

    std::vector<std::int32_t> ids;
    ids.reserve(text.size() / 3);
    std::vector<std::string_view> words;
    for (const Segment& seg : segments) {
      if (seg.id >= 0) {
        ids.push_back(seg.id);
        continue;
      }
      std::string prefixed;
      std::string_view piece = seg.text;
      if (add_prefix_space_ && !piece.empty() && piece.front() != ' ') {
        prefixed = " " + seg.text;
        piece = prefixed;
      }
      words.clear();
      pre_tokenize(piece, words);
      for (std::string_view word : words) encode_word(word, ids);
    }
    return ids;
  }

  std::string decode(std::span<const std::int32_t> ids) const override {
    std::string bytes;
    for (std::int32_t id : ids) {
      if (id < 0 || id >= vocab_size() || !has_id_[static_cast<std::size_t>(id)]) {
        throw InputError(located(file_, fmt::format("cannot decode id {}: not in the vocabulary", id)));
      }
      bytes += decoded_[static_cast<std::size_t>(id)];
    }
    return utf8_lossy(bytes);
  }

  std::int32_t vocab_size() const override { return static_cast<std::int32_t>(decoded_.size()); }
  std::optional<std::int32_t> bos_id() const override { return bos_; }
  std::optional<std::int32_t> eos_id() const override { return eos_; }
  std::string kind() const override { return "bpe"; }
  const fs::path& path() const override { return file_; }

 private:
  [[noreturn]] void unsupported(const std::string& what) const {
    throw UnsupportedTokenizerJson(located(file_, fmt::format("unsupported {} (moesim reads byte-level BPE tokenizer.json files; "
                                                "for SentencePiece models use tokenizer.model)",
                                                what)));
  }

  void load_model(const json& model) {
    if (model.value("type", "BPE") != "BPE") unsupported(fmt::format("model type '{}'", model.value("type", "")));
    for (const char* option : {"continuing_subword_prefix", "end_of_word_suffix", "dropout"}) {
      if (model.contains(option) && !model[option].is_null()) unsupported(fmt::format("BPE option '{}'", option));
    }
    if (model.value("byte_fallback", false)) unsupported("BPE option 'byte_fallback' (a non-byte-level BPE)");
    ignore_merges_ = model.value("ignore_merges", false);

    std::int32_t max_id = -1;
    if (!model.at("vocab").is_object())
      throw json::type_error::create(302, "model.vocab must be an object of token: id", nullptr);
    for (const auto& [token, id] : model.at("vocab").items()) {
      std::int32_t i = token_id(id, token);
      vocab_.emplace(token, i);
      max_id = std::max(max_id, i);
    }
    resize_ids(max_id + 1);
    for (const auto& [token, id] : vocab_) {
      has_id_[static_cast<std::size_t>(id)] = true;
      decoded_[static_cast<std::size_t>(id)] = token;  // mapped back to bytes in load_decoder
    }

    const auto table = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) {
      std::string symbol;
      append_utf8(symbol, table[static_cast<std::size_t>(b)]);
      // GPT-NeoX-style vocabularies omit bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5..0xFF).
      auto it = vocab_.find(symbol);
      byte_id_[static_cast<std::size_t>(b)] = it == vocab_.end() ? -1 : it->second;
      symbol_byte_.emplace(table[static_cast<std::size_t>(b)], static_cast<char>(b));
    }
    for (char b : std::string_view("abcABC0123 \n")) {
      if (byte_id_[static_cast<uint8_t>(b)] < 0) {
        throw InputError(located(file_, fmt::format("vocabulary lacks the byte-level symbol for byte 0x{:02X}; "
                                                    "not a byte-level BPE", static_cast<uint8_t>(b))));
      }
    }

    std::int32_t rank = 0;
    for (const json& merge : model.at("merges")) {
      std::string left, right;
      if (merge.is_string()) {  // "Ġ t" (tokenizers < 0.20 and most files on the hub)
        const std::string& s = merge.get_ref<const std::string&>();
        std::size_t space = s.find(' ');
        if (space == std::string::npos) throw InputError(located(file_, fmt::format("merge {} '{}' has no space", rank, s)));
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else {  // ["Ġ", "t"]
        left = merge.at(0).get<std::string>();
        right = merge.at(1).get<std::string>();
      }
      auto l = vocab_.find(left), r = vocab_.find(right), m = vocab_.find(left + right);
      if (l == vocab_.end() || r == vocab_.end() || m == vocab_.end()) {
        throw InputError(located(file_, fmt::format("merge {} ('{}' + '{}') uses a token missing from the vocabulary",
                                                    rank, left, right)));
      }
      merges_.emplace(pair_key(l->second, r->second), MergeRule{rank, m->second});
      ++rank;
    }
  }

  // Id tables are sized by the highest id: a corrupt id of 2^31-1 overflowed max_id + 1 and one of
  // 10^9 asked for tens of GB (found by fuzzing; tests/fuzz/regressions/tokenizer_json/). The largest
  // real vocabularies have ~260k ids.
  // A float id (2e34) converted to int32 was undefined behaviour too.
  static constexpr std::int64_t kMaxTokenId = 1 << 22;
  std::int32_t token_id(const json& value, const std::string& token) const {
    if (!value.is_number_integer())
      throw InputError(located(file_, fmt::format("id {} for token '{}' is not a whole number", value.dump(), token)));
    if (value.is_number_integer() && !value.is_number_unsigned() && value.get<std::int64_t>() < 0)
      throw InputError(located(file_, fmt::format("negative id {} for token '{}'", value.dump(), token)));
    if (value.get<std::uint64_t>() >= static_cast<std::uint64_t>(kMaxTokenId))
      throw InputError(located(file_, fmt::format("id {} for token '{}' is beyond any real vocabulary (limit {})",
                                                  value.dump(), token, kMaxTokenId)));
    return static_cast<std::int32_t>(value.get<std::int64_t>());
  }

  void resize_ids(std::int32_t n) {
    if (n <= vocab_size()) return;
    decoded_.resize(static_cast<std::size_t>(n));
    has_id_.resize(static_cast<std::size_t>(n), false);
  }

  void load_added_tokens(const json& list) {
    for (const json& t : list) {
      AddedToken token;
      token.content = t.at("content").get<std::string>();
      token.id = token_id(t.at("id"), token.content);
      token.special = t.value("special", false);
      token.normalized = t.value("normalized", !token.special);
      token.lstrip = t.value("lstrip", false);
      token.rstrip = t.value("rstrip", false);
      token.single_word = t.value("single_word", false);
      resize_ids(token.id + 1);
      has_id_[static_cast<std::size_t>(token.id)] = true;
      decoded_[static_cast<std::size_t>(token.id)] = token.content;
      added_by_content_[token.content] = token.id;
      (token.normalized ? normalized_added_ : raw_added_).add(token);
    }
  }

  void load_normalizer(const json& spec) {
    if (spec.is_null()) return;
    std::string type = spec.value("type", "");
    if (type == "Sequence") {
      for (const json& step : spec.at("normalizers")) load_normalizer(step);
      return;
    }
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n = nullptr;
    if (type == "NFC") n = icu::Normalizer2::getNFCInstance(status);
    else if (type == "NFKC") n = icu::Normalizer2::getNFKCInstance(status);
    else if (type == "NFD") n = icu::Normalizer2::getNFDInstance(status);
    else if (type == "NFKD") n = icu::Normalizer2::getNFKDInstance(status);
    else unsupported(fmt::format("normalizer '{}'", type));
    if (U_FAILURE(status)) throw std::runtime_error(fmt::format("ICU normalizer {}: {}", type, u_errorName(status)));
    normalizers_.push_back(n);
  }

  std::string normalize(const std::string& text) const {
    std::string current = text;
    for (const icu::Normalizer2* n : normalizers_) {
      UErrorCode status = U_ZERO_ERROR;
      if (n->isNormalizedUTF8(current, status) && U_SUCCESS(status)) continue;
      status = U_ZERO_ERROR;
      std::string out;
      icu::StringByteSink<std::string> sink(&out);
      n->normalizeUTF8(0, current, sink, nullptr, status);
      if (U_FAILURE(status)) throw std::runtime_error(fmt::format("ICU normalization: {}", u_errorName(status)));
      current = std::move(out);
    }
    return current;
  }

  void load_pre_tokenizer(const json& spec) {
    bool byte_level = false;
    add_pre_tokenizer(spec, byte_level);
    if (!byte_level) unsupported("pre_tokenizer without a ByteLevel step");
  }

  void add_pre_tokenizer(const json& spec, bool& byte_level) {
    if (spec.is_null()) return;
    std::string type = spec.value("type", "");
    if (byte_level) unsupported(fmt::format("pre-tokenizer '{}' after ByteLevel", type));
    if (type == "Sequence") {
      for (const json& step : spec.at("pretokenizers")) add_pre_tokenizer(step, byte_level);
    } else if (type == "ByteLevel") {
      byte_level = true;
      if (spec.value("add_prefix_space", false)) {
        if (!steps_.empty()) unsupported("ByteLevel(add_prefix_space=true) after another pre-tokenizer");
        add_prefix_space_ = true;
      }
      if (spec.value("use_regex", true)) {
        steps_.push_back(std::make_unique<RegexSplit>(kGpt2Pattern, false, SplitBehavior::isolated, false, file_));
      }
    } else if (type == "Split") {
      const json& pattern = spec.at("pattern");
      bool literal = pattern.contains("String");
      std::string text = literal ? pattern.at("String").get<std::string>() : pattern.at("Regex").get<std::string>();
      steps_.push_back(std::make_unique<RegexSplit>(
          text, literal, split_behavior_named(spec.value("behavior", "Isolated"), file_), spec.value("invert", false),
          file_));
    } else {
      unsupported(fmt::format("pre-tokenizer '{}'", type));
    }
  }

  void load_decoder(const json& spec) {
    // Every vocabulary token is made of byte-level symbols: map them back to bytes once, here. A
    // token with any other character (added tokens such as "<|endoftext|>" or a run of spaces)
    // stays as its UTF-8 text, as tokenizers' ByteLevel decoder does.
    if (!spec.is_null() && spec.value("type", "") != "ByteLevel") {
      bool has_byte_level = false;
      if (spec.value("type", "") == "Sequence") {
        for (const json& d : spec.at("decoders")) has_byte_level |= d.value("type", "") == "ByteLevel";
      }
      if (!has_byte_level) unsupported(fmt::format("decoder '{}'", spec.value("type", "")));
    }
    for (std::string& token : decoded_) token = symbols_to_bytes(token);
  }

  std::string symbols_to_bytes(const std::string& token) const {
    std::string bytes;
    int32_t i = 0, n = static_cast<int32_t>(token.size());
    while (i < n) {
      UChar32 c = 0;
      U8_NEXT(token.data(), i, n, c);
      auto it = symbol_byte_.find(c);
      if (it == symbol_byte_.end()) return token;
      bytes += it->second;
    }
    return bytes;
  }

  std::optional<std::int32_t> id_of(const std::string& token) const {
    if (auto it = added_by_content_.find(token); it != added_by_content_.end()) return it->second;
    if (auto it = vocab_.find(token); it != vocab_.end()) return it->second;
    return std::nullopt;
  }

  // BOS/EOS are not in tokenizer.json: take them from tokenizer_config.json beside it, else from
  // config.json's ids, else from the usual names.
  void find_bos_eos() {
    fs::path dir = file_.parent_path();
    auto token_name = [](const json& v) -> std::optional<std::string> {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_object() && v.contains("content")) return v["content"].get<std::string>();
      return std::nullopt;
    };
    if (json cfg = read_optional_json(dir / "tokenizer_config.json"); cfg.is_object()) {
      if (auto name = token_name(cfg.value("bos_token", json()))) bos_ = id_of(*name);
      if (auto name = token_name(cfg.value("eos_token", json()))) eos_ = id_of(*name);
      if (bos_ || eos_) return;
    }
    if (json cfg = read_optional_json(dir / "config.json"); cfg.is_object()) {
      // json_integer: get<int32_t>() would wrap 2^32 + 1 to token 1.
      for (auto [key, id] : {std::pair{"bos_token_id", &bos_}, std::pair{"eos_token_id", &eos_}})
        if (cfg.value(key, json()).is_number_integer())
          *id = static_cast<std::int32_t>(
              json_integer(cfg[key], dir / "config.json", fmt::format("field '{}'", key), 0, kMaxTokenId - 1));
      if (bos_ || eos_) return;
    }
    for (const char* name : {"<|begin_of_text|>", "<｜begin▁of▁sentence｜>", "<s>"}) {
      if (!bos_) bos_ = id_of(name);
    }
    for (const char* name : {"<|end_of_text|>", "<｜end▁of▁sentence｜>", "</s>", "<|endoftext|>"}) {
      if (!eos_) eos_ = id_of(name);
    }
  }

  static json read_optional_json(const fs::path& file) {
    std::ifstream in(file);
    if (!in) return json();
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }

  // Applies the Split steps in order to text, each to every piece the previous one produced.
  void pre_tokenize(std::string_view text, std::vector<std::string_view>& out) const {
    if (text.empty()) return;
    out.push_back(text);
    std::vector<std::string_view> next;
    for (const auto& step : steps_) {
      next.clear();
      for (std::string_view piece : out) step->split(piece, next);
      out.swap(next);
    }
  }

  void encode_word(std::string_view word, std::vector<std::int32_t>& ids) const {
    bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      if (auto it = cache_.find(std::string(word)); it != cache_.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<std::int32_t> merged = merge_word(word);
    ids.insert(ids.end(), merged.begin(), merged.end());
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      if (cache_.size() < kMaxCacheEntries) cache_.emplace(std::string(word), std::move(merged));
    }
  }

  // BPE on one pre-token: start from one symbol per byte and apply the lowest-ranked merge among
  // adjacent pairs until none applies (ties: leftmost first). A heap of candidate merges over a
  // doubly linked list of symbols keeps this O(n log n), as tokenizers' Word::merge_all does.
  std::vector<std::int32_t> merge_word(std::string_view word) const {
    if (ignore_merges_) {
      std::string symbols;
      static const auto table = byte_to_codepoint();
      for (char b : word) append_utf8(symbols, table[static_cast<uint8_t>(b)]);
      if (auto it = vocab_.find(symbols); it != vocab_.end()) return {it->second};
    }
    struct Symbol {
      std::int32_t id, prev, next;
      bool alive;
    };
    const auto n = static_cast<std::int32_t>(word.size());
    std::vector<Symbol> symbols(static_cast<std::size_t>(n));
    for (std::int32_t i = 0; i < n; ++i) {
      auto byte = static_cast<uint8_t>(word[static_cast<std::size_t>(i)]);
      if (byte_id_[byte] < 0) {
        throw InputError(located(file_, fmt::format("byte 0x{:02X} has no token in this vocabulary", byte)));
      }
      symbols[static_cast<std::size_t>(i)] = {byte_id_[byte], i - 1, i + 1 < n ? i + 1 : -1, true};
    }
    struct Candidate {
      std::int32_t rank, pos, merged_id;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto push_pair = [&](std::int32_t left) {
      if (left < 0) return;
      std::int32_t right = symbols[static_cast<std::size_t>(left)].next;
      if (right < 0) return;
      auto it = merges_.find(pair_key(symbols[static_cast<std::size_t>(left)].id, symbols[static_cast<std::size_t>(right)].id));
      if (it != merges_.end()) heap.push({it->second.rank, left, it->second.merged_id});
    };
    for (std::int32_t i = 0; i + 1 < n; ++i) push_pair(i);

    while (!heap.empty()) {
      Candidate top = heap.top();
      heap.pop();
      Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
      if (!left.alive || left.next < 0) continue;
      Symbol& right = symbols[static_cast<std::size_t>(left.next)];
      // Stale entry: one side merged with something else since this candidate was pushed.
      auto it = merges_.find(pair_key(left.id, right.id));
      if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;
      left.id = top.merged_id;
      right.alive = false;
      left.next = right.next;
      if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
      push_pair(left.prev);
      push_pair(top.pos);
    }
    std::vector<std::int32_t> out;
    for (std::int32_t i = n > 0 ? 0 : -1; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
      out.push_back(symbols[static_cast<std::size_t>(i)].id);
    }
    return out;
  }

  fs::path file_;
  std::unordered_map<std::string, std::int32_t> vocab_;      // byte-level symbols -> id
  std::unordered_map<std::string, std::int32_t> added_by_content_;
  std::unordered_map<std::uint64_t, MergeRule> merges_;      // (left id, right id) -> rank, result
  std::array<std::int32_t, 256> byte_id_{};                  // id of each single byte's symbol
  std::unordered_map<UChar32, char> symbol_byte_;            // byte-level symbol -> byte
  std::vector<std::string> decoded_;                         // id -> bytes it stands for
  std::vector<bool> has_id_;
  std::vector<const icu::Normalizer2*> normalizers_;
  std::vector<std::unique_ptr<RegexSplit>> steps_;
  AddedTokenMatcher raw_added_, normalized_added_;
  bool add_prefix_space_ = false, ignore_merges_ = false;
  std::optional<std::int32_t> bos_, eos_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache_;  // pre-token -> ids
};

}  // namespace

// "file:line:col: malformed JSON: …" from nlohmann's byte offset of the error.
[[noreturn]] static void throw_malformed(const fs::path& file, const std::string& text, const json::parse_error& e) {
  std::size_t at = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
  std::size_t line_start = text.rfind('\n', at == 0 ? 0 : at - 1);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(line_start), '\n'));
  int column = 1 + static_cast<int>(at - line_start);
  std::string what = e.what();
  if (auto colon = what.rfind(": "); colon != std::string::npos) what = what.substr(colon + 2);
  throw InputError(located(file, line, column, fmt::format("malformed JSON: {}", what)));
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const fs::path& tokenizer_json) {
  cli::require_file(tokenizer_json);
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) throw InputError(located(tokenizer_json, "cannot open"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json spec;
  try {
    spec = json::parse(text);
  } catch (const json::parse_error& e) {
    throw_malformed(tokenizer_json, text, e);
  } catch (const json::out_of_range& e) {  // a number like 8E800000000 (found by fuzzing)
    throw InputError(located(tokenizer_json, fmt::format("malformed JSON: {}", e.what())));
  }
  try {
    if (!spec.is_object() || !spec.contains("model")) {
      throw InputError(located(tokenizer_json, "not a tokenizer.json (no \"model\" object)"));
    }
    return std::make_unique<BpeTokenizer>(tokenizer_json, spec);
  } catch (const json::exception& e) {
    throw InputError(located(tokenizer_json, fmt::format("unexpected tokenizer.json structure: {}", e.what())));
  }
}

}  // namespace moesim::model
