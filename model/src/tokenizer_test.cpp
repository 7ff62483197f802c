// Both tokenizer backends against ids produced by the reference libraries (tokenizers 0.23,
// sentencepiece 0.2.2) on the GPU machine: tests/fixtures/make_tokenizer_fixtures.py wrote
// tests/fixtures/tokenizer_reference.json from the same files in ../shared/data/tokenizers.
#include "doctest_torch.hpp"
#include <openssl/evp.h>

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "moesim/common/error.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/model/tokenizer.hpp"
#include "moesim/model/tokenizer_bpe.hpp"
#include "moesim/model/tokenizer_spm.hpp"
#include "tokenizer_added_tokens.hpp"  // internal: added-token matching
#include "tokenizer_pretokenize.hpp"   // internal: the Split pre-tokenizer
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using moesim::InputError;
using namespace moesim::model;

namespace {

const fs::path kData = MOESIM_SHARED_DATA;
const fs::path kLlama2Model = kData / "tokenizers" / "llama2_tokenizer.model";
const fs::path kOlmoeJson = kData / "tokenizers" / "olmoe_allenai_gpt-neox-olmo-dolma-v1_5.tokenizer.json";

const json& reference() {
  static const json ref = [] {
    std::ifstream in(fs::path(MOESIM_SOURCE_DIR) / "tests" / "fixtures" / "tokenizer_reference.json");
    REQUIRE(in.good());
    return json::parse(in);
  }();
  return ref;
}

void write(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

std::string sha256_int32le(const std::vector<std::int32_t>& ids) {
  std::vector<unsigned char> bytes;
  bytes.reserve(ids.size() * 4);
  for (std::int32_t id : ids) {
    auto u = static_cast<std::uint32_t>(id);
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<unsigned char>(u >> shift));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// Every reference case: same ids, and decode(ids) gives the reference library's decoded text.
void check_cases(const Tokenizer& tok, const json& ref) {
  int checked = 0;
  for (const json& c : ref.at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<std::int32_t>>();
    CAPTURE(text);
    CHECK(tok.encode(text) == expected);
    CHECK(tok.decode(expected) == c.at("decoded").get<std::string>());
    ++checked;
  }
  CHECK(checked > 300);  // 33 tricky strings + 300 WikiText-2 lines
}

void check_whole_wikitext_test(const Tokenizer& tok, const json& ref) {
  const json& whole = ref.at("wiki_test_raw");
  auto ids = tok.encode(load_wikitext2(kData, "test", "raw"));
  CHECK(ids.size() == whole.at("count").get<std::size_t>());
  auto first = whole.at("first_ids").get<std::vector<std::int32_t>>();
  REQUIRE(ids.size() >= first.size());
  CHECK(std::equal(first.begin(), first.end(), ids.begin()));
  CHECK(sha256_int32le(ids) == whole.at("sha256_int32le").get<std::string>());
}

// OLMoE's tokenizer.json with the pre-tokenizer of Llama 3 / Qwen 2 files: Split(regex) + ByteLevel
// without its own regex. The fixture script made the same edit.
std::string llama3_style_json() {
  std::ifstream in(kOlmoeJson);
  json spec = json::parse(in);
  spec["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({{{"type", "Split"},
                     {"pattern", {{"Regex", reference().at("llama3_pattern").get<std::string>()}}},
                     {"behavior", "Isolated"},
                     {"invert", false}},
                    {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}};
  return spec.dump();
}

}  // namespace

TEST_CASE("SentencePiece (Llama 2 tokenizer.model) gives sentencepiece's ids on tricky strings and WikiText-2 lines") {
  auto tok = load_tokenizer(kLlama2Model);
  CHECK(tok->kind() == "sentencepiece");
  check_cases(*tok, reference().at("tokenizers").at("spm_llama2"));
}

TEST_CASE("SentencePiece encodes the whole WikiText-2 test split exactly as sentencepiece 0.2.2") {
  check_whole_wikitext_test(*load_tokenizer(kLlama2Model), reference().at("tokenizers").at("spm_llama2"));
}

TEST_CASE("Byte-level BPE (OLMoE tokenizer.json) gives tokenizers' ids on tricky strings and WikiText-2 lines") {
  auto tok = load_tokenizer(kOlmoeJson);
  CHECK(tok->kind() == "bpe");
  check_cases(*tok, reference().at("tokenizers").at("hf_olmoe"));
}

TEST_CASE("Byte-level BPE encodes the whole WikiText-2 test split exactly as tokenizers 0.23") {
  check_whole_wikitext_test(*load_tokenizer(kOlmoeJson), reference().at("tokenizers").at("hf_olmoe"));
}

TEST_CASE("A Llama-3 style Split regex pre-tokenizer (run by PCRE2) gives tokenizers' ids") {
  const fs::path dir = moesim::testing::scratch_subdir("llama3_split");
  write(dir / "tokenizer.json", llama3_style_json());
  auto tok = load_tokenizer(dir);
  const json& ref = reference().at("tokenizers").at("hf_llama3_split");
  check_cases(*tok, ref);
  check_whole_wikitext_test(*tok, ref);
}

TEST_CASE("Vocabulary sizes and BOS/EOS ids are those of the reference files") {
  auto spm = load_tokenizer(kLlama2Model);
  CHECK(spm->vocab_size() == reference().at("spm_vocab_size").get<int>());
  CHECK(spm->vocab_size() == 32000);
  CHECK(spm->bos_id() == 1);  // <s>
  CHECK(spm->eos_id() == 2);  // </s>
  auto bpe = load_tokenizer(kOlmoeJson);
  CHECK(bpe->vocab_size() == reference().at("hf_vocab_size").get<int>());
  CHECK(bpe->vocab_size() == 50280);
  CHECK_FALSE(bpe->bos_id().has_value());  // OLMoE has no BOS token
  CHECK(bpe->eos_id() == 50279);           // <|endoftext|>
  CHECK(encode_for_model(*spm, "Hello", true, true) == std::vector<std::int32_t>{1, 15043, 2});
  CHECK(encode_for_model(*bpe, "Hello", true, true) == std::vector<std::int32_t>{12092, 50279});
}

TEST_CASE("A model directory loads tokenizer.json in preference to tokenizer.model, and BOS/EOS from its config") {
  const fs::path dir = moesim::testing::scratch_subdir("model_dir");
  fs::copy_file(kLlama2Model, dir / "tokenizer.model");
  CHECK(load_tokenizer(dir)->kind() == "sentencepiece");
  fs::copy_file(kOlmoeJson, dir / "tokenizer.json");
  write(dir / "tokenizer_config.json", R"({"bos_token": "<|padding|>", "eos_token": {"content": "<|endoftext|>"}})");
  auto tok = load_tokenizer(dir);
  CHECK(tok->kind() == "bpe");
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 50279);
  // A SentencePiece-style tokenizer.json (Metaspace, as Mixtral ships) is not run: tokenizer.model is.
  const fs::path mixtral = moesim::testing::scratch_subdir("mixtral_dir");
  fs::copy_file(kLlama2Model, mixtral / "tokenizer.model");
  write(mixtral / "tokenizer.json",
        R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []},
            "pre_tokenizer": {"type": "Metaspace"}})");
  CHECK(load_tokenizer(mixtral)->kind() == "sentencepiece");
  CHECK_THROWS_AS(load_tokenizer(mixtral / "tokenizer.json"), UnsupportedTokenizerJson);
  const fs::path empty = moesim::testing::scratch_subdir("empty_dir");
  CHECK_THROWS_AS(load_tokenizer(empty), InputError);
  // BOS/EOS ids from config.json when tokenizer_config.json names none; 2^32 + 1 is not wrapped to id 1.
  const fs::path ids = moesim::testing::scratch_subdir("ids_dir");
  fs::copy_file(kOlmoeJson, ids / "tokenizer.json");
  write(ids / "config.json", R"({"bos_token_id": 1, "eos_token_id": 50279})");
  CHECK(load_tokenizer(ids)->bos_id() == 1);
  write(ids / "config.json", R"({"bos_token_id": 4294967297, "eos_token_id": 50279})");
  CHECK_THROWS_WITH_AS(load_tokenizer(ids),
                       ((ids / "config.json").string() + ": field 'bos_token_id' = 4294967297 is outside 0..4194303").c_str(),
                       InputError);
}

TEST_CASE("Decoding reverses encoding (NFC-normalised text for the BPE)") {
  auto spm = load_tokenizer(kLlama2Model);
  auto bpe = load_tokenizer(kOlmoeJson);
  for (std::string text : {"Hello, world!", "日本語 😀 x", "  spaces\n\nand\ttabs", "e\u0301"}) {
    CAPTURE(text);
    CHECK(bpe->decode(bpe->encode(text)) == (text == "e\u0301" ? "\u00e9" : text));
  }
  CHECK(spm->decode(spm->encode("日本語 😀 x")) == "日本語 😀 x");  // byte fallback keeps the emoji
  // A lone UTF-8 lead byte from a cut-off sequence decodes to U+FFFD, as tokenizers does.
  auto emoji = bpe->encode("😀");
  REQUIRE(emoji.size() >= 2);
  CHECK(bpe->decode(std::vector<std::int32_t>(emoji.begin(), emoji.begin() + 1)) == "\xEF\xBF\xBD");
  CHECK_THROWS_AS(bpe->decode(std::vector<std::int32_t>{50280}), InputError);
  CHECK_THROWS_AS(spm->decode(std::vector<std::int32_t>{-1}), InputError);
}

TEST_CASE("Invalid UTF-8 input is an InputError, not a silent wrong encoding") {
  auto bpe = load_tokenizer(kOlmoeJson);
  CHECK_THROWS_WITH_AS(bpe->encode("ok \xC3\x28"), doctest::Contains("byte 3"), InputError);
  auto spm = load_tokenizer(kLlama2Model);
  CHECK_THROWS_WITH_AS(spm->encode("\xFF"), doctest::Contains("byte 0"), InputError);
}

TEST_CASE("A malformed or unsupported tokenizer.json is one InputError line naming the file") {
  const fs::path dir = moesim::testing::scratch_subdir("bad_json");
  fs::path bad = dir / "tokenizer.json";
  write(bad, "{\"model\": {\"type\": \"BPE\",\n  \"vocab\": {\"a\": 0,, \"b\": 1}}}");
  try {
    load_tokenizer(bad);
    FAIL("no error");
  } catch (const InputError& e) {
    std::string message = e.what();
    CHECK(message.find(bad.string() + ":2:20: malformed JSON: syntax error") == 0);  // the second comma
    CHECK(message.find('\n') == std::string::npos);
  }
  write(bad, R"({"model": {"type": "WordPiece", "vocab": {}}})");
  CHECK_THROWS_WITH_AS(load_tokenizer(bad), doctest::Contains("unsupported model type 'WordPiece'"), InputError);
  write(bad, R"({"model": {"type": "BPE", "vocab": "oops", "merges": []}})");
  CHECK_THROWS_WITH_AS(load_tokenizer(bad), doctest::Contains("tokenizer.json: unexpected tokenizer.json structure"),
                       InputError);
  fs::path not_spm = dir / "tokenizer.model";
  write(not_spm, "not a protobuf");
  CHECK_THROWS_WITH_AS(load_tokenizer(not_spm), doctest::Contains("not a SentencePiece model"), InputError);
  CHECK_THROWS_AS(load_tokenizer(dir / "missing.json"), InputError);
}

TEST_CASE("Training a SentencePiece model on WikiText-2 train gives the requested vocabulary") {
  const fs::path dir = moesim::testing::scratch_subdir("spm_train");
  SentencePieceTrainOptions options;
  options.inputs = {wikitext2_file(kData, "train", "raw")};
  options.model_file = dir / "wiki.model";
  options.vocab_size = 1000;
  options.input_sentence_size = 4000;  // a sample keeps the test fast; the CLI trains on every line
  train_sentencepiece(options);
  auto tok = load_tokenizer(options.model_file);
  CHECK(tok->vocab_size() == 1000);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  const std::string line = " = Valkyria Chronicles III = ";
  auto ids = tok->encode(line);
  CHECK(ids.size() < line.size());  // pieces longer than one character were learnt
  CHECK(tok->decode(ids) == "= Valkyria Chronicles III =");  // sentencepiece drops edge spaces
  CHECK(tok->decode(tok->encode("Ж€")) == "Ж€");              // byte fallback for unseen characters
  // Deterministic: a second run gives the same bytes (no temporary paths or timestamps inside).
  options.model_file = dir / "again" / "wiki.model";
  fs::create_directories(options.model_file.parent_path());
  train_sentencepiece(options);
  CHECK(moesim::model::read_text_file(options.model_file) == moesim::model::read_text_file(dir / "wiki.model"));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 2);  // wiki.model, again/
  options.vocab_size = 2;
  CHECK_THROWS_AS(train_sentencepiece(options), InputError);
}

// The examples of tokenizers' SplitDelimiterBehavior documentation, and GPT-2's regex by hand.
TEST_CASE("Split pre-tokenizer behaviors cut 'the-final--countdown' as tokenizers documents") {
  auto pieces = [](const std::string& pattern, bool literal, SplitBehavior behavior, bool invert, std::string_view text) {
    RegexSplit split(pattern, literal, behavior, invert, "test.json");
    std::vector<std::string_view> out;
    split.split(text, out);
    return std::vector<std::string>(out.begin(), out.end());
  };
  using V = std::vector<std::string>;
  const std::string_view text = "the-final--countdown";
  CHECK(pieces("-", true, SplitBehavior::isolated, false, text) == V{"the", "-", "final", "-", "-", "countdown"});
  CHECK(pieces("-", true, SplitBehavior::removed, false, text) == V{"the", "final", "countdown"});
  CHECK(pieces("-", true, SplitBehavior::merged_with_previous, false, text) == V{"the-", "final-", "-", "countdown"});
  CHECK(pieces("-", true, SplitBehavior::merged_with_next, false, text) == V{"the", "-final", "-", "-countdown"});
  CHECK(pieces("-", true, SplitBehavior::contiguous, false, text) == V{"the", "-", "final", "--", "countdown"});
  CHECK(pieces("-", true, SplitBehavior::removed, true, text) == V{"-", "-", "-"});  // invert: keep the matches
  // GPT-2: a space sticks to the word after it; of a whitespace run, all but the last space stand alone.
  CHECK(pieces(kGpt2Pattern, false, SplitBehavior::isolated, false, "Hello  world's 123!!\n") ==
        V{"Hello", " ", " world", "'s", " 123", "!!", "\n"});
  CHECK(pieces(kGpt2Pattern, false, SplitBehavior::isolated, false, "日本 über") == V{"日本", " über"});
  CHECK_THROWS_WITH_AS(RegexSplit("(", false, SplitBehavior::isolated, false, "bad.json"),
                       doctest::Contains("bad.json: pre-tokenizer regex does not compile at offset 1"), InputError);
}

TEST_CASE("Added tokens match leftmost-longest, with lstrip, rstrip and single_word") {
  auto cut = [](const std::vector<AddedToken>& tokens, const std::string& text) {
    AddedTokenMatcher matcher;
    for (const AddedToken& t : tokens) matcher.add(t);
    std::vector<std::string> out;  // text pieces as they are, added tokens as "#id"
    for (const Segment& s : matcher.split({{text, -1}})) out.push_back(s.id >= 0 ? fmt::format("#{}", s.id) : s.text);
    return out;
  };
  using V = std::vector<std::string>;
  AddedToken two{"  ", 2}, three{"   ", 3}, eot{"<|eot|>", 9};
  CHECK(cut({two, three}, "a      b") == V{"a", "#3", "#3", "b"});   // 6 spaces: longest first, twice
  CHECK(cut({two, three}, "a     b") == V{"a", "#3", "#2", "b"});    // 5 = 3 + 2
  CHECK(cut({two, three}, "a b") == V{"a b"});
  CHECK(cut({eot}, "x<|eot|><|eot|>") == V{"x", "#9", "#9"});
  AddedToken mask{"<mask>", 5};
  mask.lstrip = true;
  mask.rstrip = true;
  CHECK(cut({mask}, "a  <mask> b") == V{"a", "#5", "b"});
  AddedToken word{"ab", 7};
  word.single_word = true;
  CHECK(cut({word}, "ab xab ab_ ab.") == V{"#7", " xab ab_ ", "#7", "."});
  CHECK(cut({}, "unchanged") == V{"unchanged"});
}
