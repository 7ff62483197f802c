// Loaders on the real files in ../shared/data, against the counts documented in its SOURCES.md
// (and values computed there independently with Python).
#include "doctest_torch.hpp"
#include <zlib.h>

#include <algorithm>
#include <fmt/format.h>
#include <fstream>

#include "moesim/common/error.hpp"
#include "moesim/model/datasets.hpp"
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;
using moesim::InputError;
using namespace moesim::model;

namespace {

const fs::path kData = MOESIM_SHARED_DATA;

std::size_t count_lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

std::size_t count_words(const std::string& text) {
  std::size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

std::size_t count_code_points(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void gzip_file(const fs::path& from, const fs::path& to, const char* mode = "wb") {
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gzFile gz = gzopen(to.c_str(), mode);
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(gz);
}

}  // namespace

TEST_CASE("WikiText-2 test split: raw and tokenized files with the documented line and token counts") {
  std::string raw = load_wikitext2(kData, "test", "raw");
  CHECK(raw.size() == 1290590);
  CHECK(count_lines(raw) == 4358);
  CHECK(raw.rfind(" \n = Robert Boulter = \n", 0) == 0);
  std::string tokens = load_wikitext2(kData, "test", "tokens");
  CHECK(count_lines(tokens) == 4358);
  CHECK(count_words(tokens) + count_lines(tokens) == 245569);  // the standard count, one <eos> per line
  CHECK(count_words(raw) + count_lines(raw) == 245569);
}

TEST_CASE("WikiText-2 valid and train splits") {
  std::string valid = load_wikitext2(kData, "validation", "raw");
  CHECK(valid.size() == 1146846);
  CHECK(count_lines(valid) == 3760);
  CHECK(valid.rfind(" \n = Homarus gammarus = \n", 0) == 0);
  std::string train = load_wikitext2(kData, "train", "raw");
  CHECK(train.size() == 10940747);
  CHECK(count_lines(train) == 36718);
  CHECK(count_words(load_wikitext2(kData, "train", "tokens")) == 2051910);
  CHECK_THROWS_AS(load_wikitext2(kData, "dev"), InputError);
  CHECK_THROWS_AS(load_wikitext2(kData, "test", "bytes"), InputError);
  CHECK_THROWS_AS(load_wikitext2(kData / "nowhere", "test"), InputError);
}

TEST_CASE("WikiText-2 joined as the Hugging Face perplexity recipe joins it") {
  // Python: rows = [l if l.strip() else '' for l in open(f).read().splitlines(keepends=True)];
  // '\n\n'.join(rows) has 1296370 bytes for wiki.test.raw.
  std::string joined = load_wikitext2_hf_joined(kData, "test", "raw");
  CHECK(joined.size() == 1296370);
  CHECK(joined.rfind("\n\n = Robert Boulter = \n\n\n", 0) == 0);  // "" row, then the title row
}

TEST_CASE("C4 sample: 2000 documents with the documented first record and character count") {
  auto docs = load_c4(kData);
  REQUIRE(docs.size() == 2000);
  CHECK(docs[0].url == "https://www.opentable.com/boneyard-bistro?Ref=8101");
  CHECK(docs[0].text.rfind("We offer valet parking as well as street and private lot.", 0) == 0);
  CHECK(docs[0].timestamp == "2019-04-19T08:56:10Z");
  std::size_t chars = 0, shortest = SIZE_MAX, longest = 0;
  for (const auto& d : docs) {
    std::size_t n = count_code_points(d.text);
    chars += n;
    shortest = std::min(shortest, n);
    longest = std::max(longest, n);
  }
  CHECK(chars == 4223732);
  CHECK(shortest == 39);
  CHECK(longest == 61048);
  CHECK(load_c4(kData, 5).size() == 5);
}

TEST_CASE("C4 .json.gz shards (gzip, as allenai/c4 ships them) read like the plain file, in name order") {
  const fs::path dir = moesim::testing::scratch_subdir("c4_shards");
  fs::create_directories(dir / "c4");
  // The first 100 documents of the sample, as a plain file and as gzip shards.
  fs::path jsonl = dir / "first100.jsonl";
  {
    std::ifstream in(kData / "c4" / "c4_validation_2k.jsonl");
    std::ofstream out(jsonl);
    std::string line;
    for (int i = 0; i < 100 && std::getline(in, line); ++i) out << line << '\n';
  }
  gzip_file(jsonl, dir / "c4" / "c4-validation.00001-of-00002.json.gz");
  gzip_file(jsonl, dir / "c4" / "c4-validation.00000-of-00002.json.gz");
  gzip_file(jsonl, dir / "c4" / "c4-validation.00000-of-00002.json.gz", "ab");  // a second gzip member
  auto plain = load_c4_file(jsonl);
  REQUIRE(plain.size() == 100);
  auto docs = load_c4(dir);
  REQUIRE(docs.size() == 300);
  CHECK(docs[0].text == plain[0].text);
  CHECK(docs[0].url == "https://www.opentable.com/boneyard-bistro?Ref=8101");
  CHECK(docs[200].url == plain[0].url);  // shard 00001 comes after both members of shard 00000
  CHECK(docs.back().text == plain.back().text);
}

TEST_CASE("LAMBADA: 5153 passages, context and target word as documented; both file formats agree") {
  auto examples = load_lambada(kData);
  REQUIRE(examples.size() == 5153);
  CHECK(examples[0].context.rfind("In my palm is a clear stone, and inside it is a small ivory statuette.", 0) == 0);
  CHECK(examples[0].context.ends_with("I don't care about"));
  CHECK(examples[0].target == "signs");
  CHECK(examples.back().target == "Grandmother");
  auto openai = load_lambada_file(kData / "lambada" / "lambada_test.jsonl");
  REQUIRE(openai.size() == examples.size());
  std::size_t same = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    same += openai[i].context == examples[i].context && openai[i].target == examples[i].target;
  }
  CHECK(same == examples.size());
}

TEST_CASE("A malformed JSON line is an InputError naming file, line and column") {
  const fs::path dir = moesim::testing::scratch_subdir("bad_jsonl");
  fs::path file = dir / "lambada.jsonl";
  std::ofstream(file) << R"({"context": "a b", "continuation": "c"})" << "\n" << R"({"context": "x", oops})" << "\n";
  CHECK_THROWS_WITH_AS(load_lambada_file(file), doctest::Contains((file.string() + ":2:").c_str()), InputError);
  std::ofstream(file) << R"({"context": "a b"})" << "\n";
  CHECK_THROWS_WITH_AS(load_lambada_file(file), doctest::Contains(":1:1: missing string field \"continuation\""),
                       InputError);
  // An empty word to predict (the campaign's finding, session 9): refused, in both formats.
  std::ofstream(file) << R"({"text": "2AT5 "})" << "\n";
  CHECK_THROWS_WITH_AS(load_lambada_file(file), doctest::Contains(":1:1: \"text\" ends with a space: no last word"),
                       InputError);
  std::ofstream(file) << R"({"context": "a b", "continuation": ""})" << "\n";
  CHECK_THROWS_WITH_AS(load_lambada_file(file), doctest::Contains(":1:1: \"continuation\" is empty"), InputError);
  // A number beyond a double anywhere in a record: nlohmann throws out_of_range, not parse_error.
  std::ofstream(file) << R"({"context": "a b", "continuation": "c", "n": 1e400})" << "\n";
  CHECK_THROWS_WITH_AS(load_lambada_file(file),
                       doctest::Contains((file.string() + ":1:1: malformed JSON: [json.exception.out_of_range.406] "
                                                         "number overflow parsing '1e400'").c_str()),
                       InputError);
  fs::path gz = dir / "broken.json.gz";
  gzip_file(kData / "c4" / "c4_validation_2k.jsonl", gz);
  fs::resize_file(gz, fs::file_size(gz) / 2);  // truncated download
  CHECK_THROWS_AS(load_c4_file(gz), InputError);
}
