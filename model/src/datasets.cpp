// Data-set readers: whole files for WikiText-2, JSON lines (optionally gzip'ed) for C4 and LAMBADA.
#include "moesim/model/datasets.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"

namespace moesim::model {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path default_data_dir() {
  if (const char* env = std::getenv("MOESIM_DATA_DIR"); env != nullptr && *env != '\0') return env;
  return fs::path(MOESIM_DEFAULT_DATA_DIR).lexically_normal();
}

std::string read_text_file(const fs::path& file) {
  cli::require_file(file);
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(located(file, "cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// ---- WikiText-2 ----

fs::path wikitext2_file(const fs::path& data_dir, std::string_view split, std::string_view variant) {
  if (variant != "raw" && variant != "tokens") {
    throw InputError(fmt::format("unknown WikiText-2 variant '{}' (raw or tokens)", variant));
  }
  if (split == "train") return data_dir / "train" / fmt::format("wiki.train.{}", variant);
  if (split == "valid" || split == "validation") return data_dir / "wikitext-2" / fmt::format("wiki.valid.{}", variant);
  if (split == "test") return data_dir / "wikitext-2" / fmt::format("wiki.test.{}", variant);
  throw InputError(fmt::format("unknown WikiText-2 split '{}' (train, valid or test)", split));
}

std::string load_wikitext2(const fs::path& data_dir, std::string_view split, std::string_view variant) {
  return read_text_file(wikitext2_file(data_dir, split, variant));
}

std::string load_wikitext2_hf_joined(const fs::path& data_dir, std::string_view split, std::string_view variant) {
  std::string file = load_wikitext2(data_dir, split, variant);
  std::string joined;
  joined.reserve(file.size() + file.size() / 8);
  std::size_t begin = 0;
  bool first = true;
  while (begin < file.size()) {
    std::size_t newline = file.find('\n', begin);
    std::size_t end = newline == std::string::npos ? file.size() : newline + 1;
    std::string_view line(file.data() + begin, end - begin);
    if (!first) joined += "\n\n";
    first = false;
    if (line.find_first_not_of(" \t\r\n\f\v") != std::string_view::npos) joined += line;
    begin = end;
  }
  return joined;
}

// ---- JSON lines ----

// Calls on_line(line, line_number) for each line of a text file, gunzipping .gz files on the fly
// (zlib reads concatenated gzip members too).
static void for_each_line(const fs::path& file, const std::function<void(std::string_view, int)>& on_line) {
  cli::require_file(file);
  // Owned, so that a bad record (on_line throws) does not leak the handle and its buffers (fuzzing:
  // LeakSanitizer, tests/fuzz/regressions/datasets_jsonl/).
  std::unique_ptr<gzFile_s, int (*)(gzFile)> owner(gzopen(file.c_str(), "rb"), &gzclose);  // plain files too
  gzFile gz = owner.get();
  if (gz == nullptr) throw InputError(located(file, "cannot open"));
  gzbuffer(gz, 1 << 17);
  std::string line;
  std::vector<char> buf(1 << 16);
  int line_number = 0;
  for (;;) {
    int n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int code = 0;
      std::string message = gzerror(gz, &code);
      throw InputError(located(file, fmt::format("corrupt compressed data ({})", message)));
    }
    if (n == 0) break;
    std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    std::size_t pos = 0;
    while (pos < chunk.size()) {
      std::size_t newline = chunk.find('\n', pos);
      if (newline == std::string_view::npos) {
        line.append(chunk.substr(pos));
        break;
      }
      line.append(chunk.substr(pos, newline - pos));
      on_line(line, ++line_number);
      line.clear();
      pos = newline + 1;
    }
  }
  owner.reset();
  if (!line.empty()) on_line(line, ++line_number);
}

// Parses one JSON-lines record; blank lines are skipped (returns a null json).
static json parse_record(const fs::path& file, std::string_view line, int line_number) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return json();
  try {
    json record = json::parse(line);
    if (!record.is_object()) throw InputError(located(file, line_number, 1, "expected a JSON object"));
    return record;
  } catch (const json::parse_error& e) {
    // e.byte is 1-based within the line: the column.
    throw InputError(located(file, line_number, static_cast<int>(std::max<std::size_t>(1, e.byte)),
                             fmt::format("malformed JSON: {}", e.what())));
  } catch (const json::exception& e) {  // a number beyond a double (1e400): out_of_range, no position
    throw InputError(located(file, line_number, 1, fmt::format("malformed JSON: {}", e.what())));
  }
}

static std::string string_field(const fs::path& file, const json& record, const char* key, int line_number,
                                bool required = true) {
  auto it = record.find(key);
  if (it == record.end() || !it->is_string()) {
    if (!required) return {};
    throw InputError(located(file, line_number, 1, fmt::format("missing string field \"{}\"", key)));
  }
  return it->get<std::string>();
}

// ---- C4 ----

std::vector<C4Document> load_c4_file(const fs::path& file) {
  std::vector<C4Document> docs;
  for_each_line(file, [&](std::string_view line, int n) {
    json record = parse_record(file, line, n);
    if (record.is_null()) return;
    docs.push_back({string_field(file, record, "text", n), string_field(file, record, "url", n, false),
                    string_field(file, record, "timestamp", n, false)});
  });
  return docs;
}

static bool is_c4_file(const fs::path& p) {
  std::string name = p.filename().string();
  auto ends_with = [&](std::string_view s) { return name.size() >= s.size() && name.ends_with(s); };
  return ends_with(".jsonl") || ends_with(".json") || ends_with(".json.gz");
}

std::vector<C4Document> load_c4(const fs::path& data_dir, std::size_t max_documents) {
  fs::path dir = data_dir / "c4";
  if (!fs::is_directory(dir)) throw InputError(located(dir, "no such directory (expected C4 json lines here)"));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && is_c4_file(entry.path())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(located(dir, "no *.jsonl, *.json or *.json.gz files"));
  std::vector<C4Document> docs;
  for (const fs::path& file : files) {
    std::vector<C4Document> part = load_c4_file(file);
    for (C4Document& d : part) {
      if (max_documents != 0 && docs.size() >= max_documents) return docs;
      docs.push_back(std::move(d));
    }
  }
  return docs;
}

// ---- LAMBADA ----

std::vector<LambadaExample> load_lambada_file(const fs::path& file) {
  std::vector<LambadaExample> examples;
  for_each_line(file, [&](std::string_view line, int n) {
    json record = parse_record(file, line, n);
    if (record.is_null()) return;
    if (record.contains("context")) {
      examples.push_back({string_field(file, record, "context", n), string_field(file, record, "continuation", n)});
      // The target is what is scored (eval-ppl divides by its tokens): an empty one scores nothing.
      if (examples.back().target.empty()) throw InputError(located(file, n, 1, "\"continuation\" is empty"));
      return;
    }
    std::string text = string_field(file, record, "text", n);
    std::size_t space = text.rfind(' ');
    if (space == std::string::npos) throw InputError(located(file, n, 1, "\"text\" has no space before its last word"));
    if (space + 1 == text.size())  // lambada_openai's target is text.rsplit(' ', 1)[1]: here an empty word
      throw InputError(located(file, n, 1, "\"text\" ends with a space: no last word to predict"));
    examples.push_back({text.substr(0, space), text.substr(space + 1)});
  });
  return examples;
}

std::vector<LambadaExample> load_lambada(const fs::path& data_dir) {
  return load_lambada_file(data_dir / "lambada" / "lambada_openai.jsonl");
}

}  // namespace moesim::model
