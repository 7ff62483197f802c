#pragma once
// Added tokens of a tokenizer.json ("<|endoftext|>", runs of spaces, …): found in the text before
// pre-tokenization and emitted as their own ids, as tokenizers' AddedVocabulary does. Internal to
// moesim::model_text (tokenizer_bpe.cpp); tested in tokenizer_test.cpp.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::model {

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool special = false;      // skipped by decoders asked to skip special tokens
  bool normalized = false;   // matched in the normalized text (else in the raw text)
  bool lstrip = false;       // also swallows the whitespace on its left
  bool rstrip = false;       // also swallows the whitespace on its right
  bool single_word = false;  // only matches with no letter, digit or '_' on either side
};

// A piece of text still to tokenize, or an added token already resolved to its id.
struct Segment {
  std::string text;
  std::int32_t id = -1;  // >= 0: an added token
};

// Finds added tokens leftmost-longest (tokenizers uses aho-corasick with LeftmostLongest): at the
// first position where any token matches, the longest one wins.
class AddedTokenMatcher {
 public:
  void add(const AddedToken& token);
  // Splits each text segment of `in` around the added tokens it contains; id segments pass through.
  std::vector<Segment> split(std::vector<Segment> in) const;

 private:
  const AddedToken* match_at(std::string_view text, std::size_t pos) const;
  void split_text(std::string_view text, std::vector<Segment>& out) const;

  std::array<std::vector<AddedToken>, 256> by_first_byte_;  // each list longest first
  bool empty_ = true;
};

}  // namespace moesim::model
