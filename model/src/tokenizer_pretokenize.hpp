#pragma once
// Pre-tokenization of tokenizer.json files: cutting text into the pieces BPE runs on, with a regex
// (PCRE2) and one of the `tokenizers` library's SplitDelimiterBehavior rules. Internal to
// moesim::model_text (tokenizer_bpe.cpp); tested in tokenizer_test.cpp.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;  // pcre2_code, from <pcre2.h> with PCRE2_CODE_UNIT_WIDTH 8

namespace moesim::model {

// The pre-tokenizer regex of GPT-2, used by ByteLevel(use_regex=true).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// What happens to the text a pattern matches, e.g. for "the-final--countdown" split on "-":
//   isolated             the | - | final | - | - | countdown
//   removed              the | final | countdown
//   merged_with_previous the- | final- | - | countdown
//   merged_with_next     the | -final | - | -countdown
//   contiguous           the | - | final | -- | countdown
enum class SplitBehavior { isolated, removed, merged_with_previous, merged_with_next, contiguous };

// Parses tokenizers' names ("Isolated", "MergedWithPrevious", …); throws InputError naming file.
SplitBehavior split_behavior_named(const std::string& name, const std::filesystem::path& file);

// One Split pre-tokenizer step. The pattern runs in PCRE2's UTF + Unicode-property mode, so \s,
// \p{L}, \p{N} are Unicode-aware as in Oniguruma (which `tokenizers` uses); JIT-compiled where
// the platform allows. Thread-safe: split() allocates its own match data.
class RegexSplit {
 public:
  // literal: the pattern is a plain string (tokenizer.json's {"String": …}), not a regex.
  // A pattern that does not compile throws InputError naming file and offset.
  RegexSplit(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert,
             const std::filesystem::path& file);
  RegexSplit(const RegexSplit&) = delete;
  RegexSplit& operator=(const RegexSplit&) = delete;
  ~RegexSplit();

  // Appends the pieces of text (views into it) to out. text must be valid UTF-8.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  pcre2_real_code_8* code_ = nullptr;
  bool jit_ = false;
  SplitBehavior behavior_;
  bool invert_;  // the matches are the gaps and the gaps the matches
};

}  // namespace moesim::model
