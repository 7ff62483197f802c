// libsentencepiece wrapped in the C ABI of spm_plugin_abi.h. This file is the only one in moesim
// that includes sentencepiece headers; the library it builds is dlopen'ed, never linked.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "spm_plugin_abi.h"

// Exported by libsentencepiece but not declared in its public headers.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace {

void set_error(char* err, size_t err_size, const std::string& message) {
  if (err == nullptr || err_size == 0) return;
  std::strncpy(err, message.c_str(), err_size - 1);
  err[err_size - 1] = '\0';
}

// Plugin entry points must not let a C++ exception cross into the caller.
template <typename F>
int guarded(char* err, size_t err_size, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    set_error(err, err_size, e.what());
  } catch (...) {
    set_error(err, err_size, "unknown error in sentencepiece");
  }
  return 1;
}

sentencepiece::SentencePieceProcessor* as_processor(void* p) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(p);
}

}  // namespace

extern "C" {

int moesim_spm_abi_version(void) { return MOESIM_SPM_ABI_VERSION; }

void* moesim_spm_load(const char* model_path, char* err, size_t err_size) {
  try {
    auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto status = processor->Load(model_path);
    if (!status.ok()) {
      set_error(err, err_size, status.ToString());
      return nullptr;
    }
    return processor.release();
  } catch (const std::exception& e) {
    set_error(err, err_size, e.what());
    return nullptr;
  }
}

void moesim_spm_destroy(void* processor) { delete as_processor(processor); }

int moesim_spm_encode(void* processor, const char* text, size_t text_size, int32_t** ids, size_t* n_ids,
                      char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    std::vector<int> out;
    auto status = as_processor(processor)->Encode(std::string_view(text, text_size), &out);
    if (!status.ok()) {
      set_error(err, err_size, status.ToString());
      return 1;
    }
    *n_ids = out.size();
    *ids = static_cast<int32_t*>(std::malloc(std::max<size_t>(1, out.size()) * sizeof(int32_t)));
    if (*ids == nullptr) throw std::bad_alloc();
    for (size_t i = 0; i < out.size(); ++i) (*ids)[i] = out[i];
    return 0;
  });
}

int moesim_spm_decode(void* processor, const int32_t* ids, size_t n_ids, char** text, size_t* text_size,
                      char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    std::vector<int> in(ids, ids + n_ids);
    std::string out;
    auto status = as_processor(processor)->Decode(in, &out);
    if (!status.ok()) {
      set_error(err, err_size, status.ToString());
      return 1;
    }
    *text_size = out.size();
    *text = static_cast<char*>(std::malloc(out.size() + 1));
    if (*text == nullptr) throw std::bad_alloc();
    std::memcpy(*text, out.data(), out.size() + 1);
    return 0;
  });
}

void moesim_spm_free_buffer(void* buffer) { std::free(buffer); }

int moesim_spm_piece_size(void* processor) { return as_processor(processor)->GetPieceSize(); }
int moesim_spm_bos_id(void* processor) { return as_processor(processor)->bos_id(); }
int moesim_spm_eos_id(void* processor) { return as_processor(processor)->eos_id(); }

int moesim_spm_train(const char* const* keys, const char* const* values, size_t n, int verbose, char** model,
                     size_t* model_size, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    // sentencepiece logs every EM step at INFO (0); 1 keeps warnings and errors.
    sentencepiece::logging::SetMinLogLevel(verbose ? 0 : 1);
    std::unordered_map<std::string, std::string> kwargs;
    for (size_t i = 0; i < n; ++i) kwargs[keys[i]] = values[i];
    std::string proto;
    auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, nullptr, &proto);
    if (!status.ok()) {
      set_error(err, err_size, status.ToString());
      return 1;
    }
    *model_size = proto.size();
    *model = static_cast<char*>(std::malloc(std::max<size_t>(1, proto.size())));
    if (*model == nullptr) throw std::bad_alloc();
    std::memcpy(*model, proto.data(), proto.size());
    return 0;
  });
}

}  // extern "C"
