// Cutting added tokens out of text (tokenizers/src/tokenizer/added_vocabulary.rs).
#include "tokenizer_added_tokens.hpp"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>

namespace moesim::model {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_word_char(UChar32 c) { return c >= 0 && (u_isalnum(c) || c == '_'); }

bool is_word_char_before(std::string_view text, std::size_t pos) {
  if (pos == 0) return false;
  int32_t i = static_cast<int32_t>(pos);
  UChar32 c = 0;
  U8_PREV(text.data(), 0, i, c);
  return is_word_char(c);
}

bool is_word_char_at(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return false;
  int32_t i = static_cast<int32_t>(pos);
  UChar32 c = 0;
  U8_NEXT(text.data(), i, static_cast<int32_t>(text.size()), c);
  return is_word_char(c);
}

}  // namespace

void AddedTokenMatcher::add(const AddedToken& token) {
  if (token.content.empty()) return;
  auto& list = by_first_byte_[static_cast<uint8_t>(token.content[0])];
  list.push_back(token);
  std::stable_sort(list.begin(), list.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  empty_ = false;
}

std::vector<Segment> AddedTokenMatcher::split(std::vector<Segment> in) const {
  if (empty_) return in;
  std::vector<Segment> out;
  for (Segment& seg : in) {
    if (seg.id >= 0) {
      out.push_back(std::move(seg));
      continue;
    }
    split_text(seg.text, out);
  }
  return out;
}

const AddedToken* AddedTokenMatcher::match_at(std::string_view text, std::size_t pos) const {
  for (const AddedToken& token : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
    if (text.compare(pos, token.content.size(), token.content) != 0) continue;
    if (token.single_word && (is_word_char_before(text, pos) || is_word_char_at(text, pos + token.content.size()))) {
      continue;
    }
    return &token;
  }
  return nullptr;
}

void AddedTokenMatcher::split_text(std::string_view text, std::vector<Segment>& out) const {
  std::size_t gap_begin = 0, pos = 0;
  while (pos < text.size()) {
    const AddedToken* token = match_at(text, pos);
    if (token == nullptr) {
      ++pos;
      continue;
    }
    std::size_t begin = pos, end = pos + token->content.size();
    if (token->lstrip) {
      while (begin > gap_begin && is_space(text[begin - 1])) --begin;
    }
    if (token->rstrip) {
      while (end < text.size() && is_space(text[end])) ++end;
    }
    if (begin > gap_begin) out.push_back({std::string(text.substr(gap_begin, begin - gap_begin)), -1});
    out.push_back({std::string(), token->id});
    gap_begin = pos = end;
  }
  if (gap_begin < text.size()) out.push_back({std::string(text.substr(gap_begin)), -1});
}

}  // namespace moesim::model
