// UTF-8 checks shared by both tokenizer backends (ICU's U8_NEXT, which follows the Unicode
// "maximal subpart" practice for ill-formed sequences, as Rust's from_utf8_lossy does).
#include "tokenizer_utf8.hpp"

#include <fmt/format.h>
#include <unicode/utf8.h>

#include <cstdint>

#include "moesim/common/error.hpp"

namespace moesim::model {

namespace {
constexpr const char* kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
}

// Position of the first ill-formed UTF-8 sequence, or npos.
std::size_t invalid_utf8_at(std::string_view text) {
  // ICU's macros index with int32_t; a text this large must be tokenized in parts.
  if (text.size() > static_cast<std::size_t>(INT32_MAX)) {
    throw InputError(fmt::format("text of {} bytes is over 2 GiB; tokenize it in parts", text.size()));
  }
  int32_t i = 0, n = static_cast<int32_t>(text.size());
  while (i < n) {
    int32_t start = i;
    UChar32 c = 0;
    U8_NEXT(text.data(), i, n, c);
    if (c < 0) return static_cast<std::size_t>(start);
  }
  return std::string_view::npos;
}

// Bytes to text as Rust's String::from_utf8_lossy: each ill-formed subsequence becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes) {
  if (invalid_utf8_at(bytes) == std::string_view::npos) return std::string(bytes);
  std::string out;
  int32_t i = 0, n = static_cast<int32_t>(bytes.size());
  while (i < n) {
    int32_t start = i;
    UChar32 c = 0;
    U8_NEXT(bytes.data(), i, n, c);
    if (c < 0) {
      out += kReplacementCharacter;
    } else {
      out.append(bytes.data() + start, static_cast<std::size_t>(i - start));
    }
  }
  return out;
}

void require_utf8(std::string_view text) {
  if (std::size_t bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    throw InputError(fmt::format("text to tokenize is not valid UTF-8 (byte {})", bad));
  }
}

}  // namespace moesim::model
