#pragma once
// UTF-8 validation and lossy decoding for the tokenizers (internal to moesim::model_text).
#include <cstddef>
#include <string>
#include <string_view>

namespace moesim::model {

// Byte offset of the first ill-formed UTF-8 sequence, or std::string_view::npos.
std::size_t invalid_utf8_at(std::string_view text);
// Throws moesim::InputError "text to tokenize is not valid UTF-8 (byte N)".
void require_utf8(std::string_view text);
// Bytes to text as Rust's String::from_utf8_lossy: each ill-formed subsequence becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace moesim::model
