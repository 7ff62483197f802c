// Split pre-tokenizers with PCRE2: find the matches, then group matches and gaps into pieces by
// the step's behavior (tokenizers/src/tokenizer/normalizer.rs, NormalizedString::split).
#include "tokenizer_pretokenize.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>
#include <unicode/utf8.h>

#include <array>
#include <stdexcept>

#include "moesim/common/error.hpp"

namespace moesim::model {

namespace fs = std::filesystem;

SplitBehavior split_behavior_named(const std::string& name, const fs::path& file) {
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  throw InputError(located(file, fmt::format("unknown Split behavior '{}'", name)));
}

RegexSplit::RegexSplit(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert,
                       const fs::path& file)
    : behavior_(behavior), invert_(invert) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2 refuses UCP together with LITERAL (a literal has no classes for it to affect).
  uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset,
                        nullptr);
  if (code_ == nullptr) {
    std::array<PCRE2_UCHAR, 256> message{};
    pcre2_get_error_message(error, message.data(), message.size());
    throw InputError(located(file, fmt::format("pre-tokenizer regex does not compile at offset {}: {}", offset,
                                               reinterpret_cast<const char*>(message.data()))));
  }
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplit::~RegexSplit() { pcre2_code_free(code_); }

namespace {

// A stretch of the text: a match of the pattern or a gap between matches.
struct Run {
  std::size_t begin, end;
  bool match;
};

// Matches and gaps covering text, left to right; empty matches are skipped.
std::vector<Run> runs_of(const pcre2_code* code, bool jit, std::string_view text, bool invert) {
  std::vector<Run> runs;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code, nullptr);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t pos = 0, last = 0;
  while (pos < text.size()) {
    int rc = jit ? pcre2_jit_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, data, nullptr)
                 : pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      throw std::runtime_error(fmt::format("pre-tokenizer regex failed with PCRE2 error {}", rc));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
    std::size_t begin = ov[0], end = ov[1];
    if (end > begin) {
      if (begin > last) runs.push_back({last, begin, invert});
      runs.push_back({begin, end, !invert});
      last = pos = end;
    } else {  // empty match: step over one UTF-8 character
      pos = begin + 1;
      while (pos < text.size() && U8_IS_TRAIL(static_cast<uint8_t>(text[pos]))) ++pos;
    }
  }
  pcre2_match_data_free(data);
  if (last < text.size()) runs.push_back({last, text.size(), invert});
  return runs;
}

}  // namespace

void RegexSplit::split(std::string_view text, std::vector<std::string_view>& out) const {
  const std::vector<Run> runs = runs_of(code_, jit_, text, invert_);
  auto emit = [&](std::size_t b, std::size_t e) {
    if (e > b) out.push_back(text.substr(b, e - b));
  };
  switch (behavior_) {
    case SplitBehavior::isolated:
      for (const Run& r : runs) emit(r.begin, r.end);
      break;
    case SplitBehavior::removed:
      for (const Run& r : runs) {
        if (!r.match) emit(r.begin, r.end);
      }
      break;
    case SplitBehavior::merged_with_previous: {  // a match joins the piece before it
      std::size_t begin = 0;
      for (std::size_t i = 0; i < runs.size(); ++i) {
        if (runs[i].match) {
          emit(begin, runs[i].end);
          begin = runs[i].end;
        }
      }
      emit(begin, text.size());
      break;
    }
    case SplitBehavior::merged_with_next: {  // a match starts a new piece
      std::size_t begin = 0;
      for (const Run& r : runs) {
        if (r.match) {
          emit(begin, r.begin);
          begin = r.begin;
        }
      }
      emit(begin, text.size());
      break;
    }
    case SplitBehavior::contiguous: {  // consecutive matches form one piece
      std::size_t begin = 0;
      for (std::size_t i = 0; i < runs.size(); ++i) {
        bool boundary = i + 1 == runs.size() || runs[i + 1].match != runs[i].match;
        if (boundary) {
          emit(begin, runs[i].end);
          begin = runs[i].end;
        }
      }
      break;
    }
  }
}

}  // namespace moesim::model
