// SentencePiece through the dlopen'ed plugin (spm_plugin/): the plugin is opened once per process
// and never closed; each tokenizer owns one processor handle inside it.
#include "moesim/model/tokenizer_spm.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <stdexcept>

#include "../spm_plugin/spm_plugin_abi.h"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "tokenizer_utf8.hpp"

namespace moesim::model {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kErrorBytes = 1024;

// The plugin's entry points, resolved once.
struct SpmPlugin {
  decltype(&moesim_spm_load) load;
  decltype(&moesim_spm_destroy) destroy;
  decltype(&moesim_spm_encode) encode;
  decltype(&moesim_spm_decode) decode;
  decltype(&moesim_spm_free_buffer) free_buffer;
  decltype(&moesim_spm_piece_size) piece_size;
  decltype(&moesim_spm_bos_id) bos_id;
  decltype(&moesim_spm_eos_id) eos_id;
  decltype(&moesim_spm_train) train;
};

fs::path running_executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

std::vector<fs::path> plugin_candidates() {
  const char* name = "libmoesim_spm_plugin.so";
  std::vector<fs::path> out;
  if (const char* env = std::getenv("MOESIM_SPM_PLUGIN")) out.emplace_back(env);
  if (fs::path dir = running_executable_dir(); !dir.empty()) {
    out.push_back(dir / name);
    out.push_back(dir / ".." / "lib" / name);
  }
  out.emplace_back(MOESIM_SPM_PLUGIN_PATH);
  return out;
}

template <typename Fn>
void resolve(void* handle, const char* symbol, Fn& fn, const fs::path& file) {
  fn = reinterpret_cast<Fn>(dlsym(handle, symbol));
  if (fn == nullptr) throw std::runtime_error(fmt::format("{}: missing symbol {}", file.string(), symbol));
}

// RTLD_LOCAL keeps sentencepiece's symbols (and its protobuf) out of the global namespace;
// RTLD_DEEPBIND makes the plugin prefer its own dependencies over those already loaded (libtorch's
// protobuf). AddressSanitizer refuses DEEPBIND, so sanitizer builds go without it.
int dlopen_flags() {
#if defined(__SANITIZE_ADDRESS__)
  return RTLD_NOW | RTLD_LOCAL;
#else
  return RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
}

SpmPlugin open_plugin() {
  std::string tried;
  for (const fs::path& file : plugin_candidates()) {
    if (!fs::exists(file)) {
      tried += " " + file.string();
      continue;
    }
    void* handle = dlopen(file.c_str(), dlopen_flags());
    if (handle == nullptr) throw std::runtime_error(fmt::format("{}: cannot load: {}", file.string(), dlerror()));
    auto version = reinterpret_cast<decltype(&moesim_spm_abi_version)>(dlsym(handle, "moesim_spm_abi_version"));
    if (version == nullptr || version() != MOESIM_SPM_ABI_VERSION) {
      throw std::runtime_error(fmt::format("{}: plugin ABI version differs from this moesim; rebuild it", file.string()));
    }
    SpmPlugin p{};
    resolve(handle, "moesim_spm_load", p.load, file);
    resolve(handle, "moesim_spm_destroy", p.destroy, file);
    resolve(handle, "moesim_spm_encode", p.encode, file);
    resolve(handle, "moesim_spm_decode", p.decode, file);
    resolve(handle, "moesim_spm_free_buffer", p.free_buffer, file);
    resolve(handle, "moesim_spm_piece_size", p.piece_size, file);
    resolve(handle, "moesim_spm_bos_id", p.bos_id, file);
    resolve(handle, "moesim_spm_eos_id", p.eos_id, file);
    resolve(handle, "moesim_spm_train", p.train, file);
    return p;
  }
  throw std::runtime_error("SentencePiece plugin libmoesim_spm_plugin.so not found (set MOESIM_SPM_PLUGIN); tried:" +
                           tried);
}

const SpmPlugin& plugin() {
  static const SpmPlugin instance = open_plugin();  // thread-safe one-time open
  return instance;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(fs::path file) : file_(std::move(file)) {
    std::array<char, kErrorBytes> err{};
    processor_ = plugin().load(file_.c_str(), err.data(), err.size());
    if (processor_ == nullptr) throw InputError(located(file_, fmt::format("not a SentencePiece model ({})", err.data())));
    vocab_size_ = plugin().piece_size(processor_);
    int bos = plugin().bos_id(processor_), eos = plugin().eos_id(processor_);
    if (bos >= 0) bos_ = bos;
    if (eos >= 0) eos_ = eos;
  }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;
  ~SentencePieceTokenizer() override { plugin().destroy(processor_); }

  std::vector<std::int32_t> encode(std::string_view text) const override {
    require_utf8(text);  // sentencepiece would silently turn bad bytes into U+FFFD
    std::array<char, kErrorBytes> err{};
    std::int32_t* ids = nullptr;
    std::size_t n = 0;
    if (plugin().encode(processor_, text.data(), text.size(), &ids, &n, err.data(), err.size()) != 0) {
      throw InputError(located(file_, fmt::format("encode failed: {}", err.data())));
    }
    std::vector<std::int32_t> out(ids, ids + n);
    plugin().free_buffer(ids);
    return out;
  }

  std::string decode(std::span<const std::int32_t> ids) const override {
    for (std::int32_t id : ids) {
      if (id < 0 || id >= vocab_size_) {
        throw InputError(located(file_, fmt::format("cannot decode id {}: vocabulary has {} ids", id, vocab_size_)));
      }
    }
    std::array<char, kErrorBytes> err{};
    char* text = nullptr;
    std::size_t n = 0;
    if (plugin().decode(processor_, ids.data(), ids.size(), &text, &n, err.data(), err.size()) != 0) {
      throw std::runtime_error(located(file_, fmt::format("decode failed: {}", err.data())));
    }
    std::string out(text, n);
    plugin().free_buffer(text);
    return out;
  }

  std::int32_t vocab_size() const override { return vocab_size_; }
  std::optional<std::int32_t> bos_id() const override { return bos_; }
  std::optional<std::int32_t> eos_id() const override { return eos_; }
  std::string kind() const override { return "sentencepiece"; }
  const fs::path& path() const override { return file_; }

 private:
  fs::path file_;
  void* processor_ = nullptr;  // sentencepiece::SentencePieceProcessor inside the plugin; const-safe
  std::int32_t vocab_size_ = 0;
  std::optional<std::int32_t> bos_, eos_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const fs::path& model_file) {
  cli::require_file(model_file);
  return std::make_unique<SentencePieceTokenizer>(model_file);
}

void train_sentencepiece(const SentencePieceTrainOptions& options) {
  if (options.inputs.empty()) throw InputError("tokenizer training: no input files");
  std::string inputs;
  for (const fs::path& input : options.inputs) {
    cli::require_file(input);
    if (fs::file_size(input) == 0) throw InputError(located(input, "empty training file"));
    if (input.string().find(',') != std::string::npos) {
      throw InputError(located(input, "sentencepiece splits input paths at commas; rename the file"));
    }
    inputs += (inputs.empty() ? "" : ",") + input.string();
  }
  if (options.vocab_size < 8) throw InputError(fmt::format("tokenizer training: vocab size {} is too small", options.vocab_size));
  if (options.model_file.extension() != ".model") {
    throw InputError(located(options.model_file, "the output must end in .model"));
  }
  // No model_prefix: the plugin hands the model back in memory instead of sentencepiece writing
  // <prefix>.model/.vocab, so we write it atomically and no temporary path ends up inside it.
  std::vector<std::pair<std::string, std::string>> flags = {
      {"input", inputs},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"model_type", options.model_type},
      {"character_coverage", fmt::format("{}", options.character_coverage)},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"input_sentence_size", std::to_string(options.input_sentence_size)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(options.num_threads)},
      {"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "-1"},
      // WikiText paragraphs run to several thousand bytes; the default 4192 would drop them.
      {"max_sentence_length", "65536"},
  };
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : flags) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  std::array<char, kErrorBytes> err{};
  char* model = nullptr;
  std::size_t model_size = 0;
  if (plugin().train(keys.data(), values.data(), keys.size(), options.verbose ? 1 : 0, &model, &model_size, err.data(),
                     err.size()) != 0) {
    throw InputError(located(options.inputs.front(), fmt::format("sentencepiece training failed: {}", err.data())));
  }
  std::string bytes(model, model_size);
  plugin().free_buffer(model);
  write_file_atomically(options.model_file, bytes);
}

}  // namespace moesim::model
