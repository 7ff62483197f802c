/* The C ABI between moesim and its SentencePiece plugin (libmoesim_spm_plugin.so).
   Plain C types only, so that no C++ or protobuf symbol crosses the dlopen boundary.
   Functions returning int: 0 on success, else nonzero with a message in err (NUL-terminated,
   truncated to err_size). Buffers the plugin returns are freed with moesim_spm_free_buffer. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define MOESIM_SPM_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

int moesim_spm_abi_version(void);
/* Returns a processor handle, or NULL with a message in err. */
void* moesim_spm_load(const char* model_path, char* err, size_t err_size);
void moesim_spm_destroy(void* processor);
int moesim_spm_encode(void* processor, const char* text, size_t text_size, int32_t** ids, size_t* n_ids,
                      char* err, size_t err_size);
int moesim_spm_decode(void* processor, const int32_t* ids, size_t n_ids, char** text, size_t* text_size,
                      char* err, size_t err_size);
void moesim_spm_free_buffer(void* buffer);
int moesim_spm_piece_size(void* processor);
/* -1 where the model has no such piece. */
int moesim_spm_bos_id(void* processor);
int moesim_spm_eos_id(void* processor);
/* Trains a model from trainer flags given as n key/value pairs, e.g. {"input","a.txt"},
   {"model_prefix","m"}, {"vocab_size","8000"} (the names of spm_train's flags; pairs keep paths with
   spaces intact). Writes no file: the serialized model comes back in *model (free it with
   moesim_spm_free_buffer), so that the caller can write it atomically. */
int moesim_spm_train(const char* const* keys, const char* const* values, size_t n, int verbose, char** model,
                     size_t* model_size, char* err, size_t err_size);

#ifdef __cplusplus
}
#endif
