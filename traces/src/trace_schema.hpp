#pragma once
// Names of groups, datasets and attributes of trace format v1, shared by writer and reader so
// that the two cannot drift apart. FORMAT.md documents them for people.
#include <H5Cpp.h>

#include <cstdint>
#include <string>

namespace moesim::traces::schema {

inline constexpr const char* kTokensGroup = "tokens";
inline constexpr const char* kSequenceId = "tokens/sequence_id";
inline constexpr const char* kPosition = "tokens/position";
inline constexpr const char* kTokenId = "tokens/token_id";
inline constexpr const char* kStepsGroup = "steps";
inline constexpr const char* kStepOffsets = "steps/offsets";
inline constexpr const char* kLayersGroup = "layers";
inline constexpr const char* kExpertIds = "expert_ids";
inline constexpr const char* kGateWeights = "gate_weights";
inline constexpr const char* kRouterProbs = "router_probs";
inline constexpr const char* kKept = "kept";  // since 1.1, optional: uint8 (T, k), 1 = pair kept

inline std::string layer_group(int layer) { return std::string(kLayersGroup) + "/" + std::to_string(layer); }
inline std::string layer_dataset(int layer, const char* name) { return layer_group(layer) + "/" + name; }

// The smallest unsigned type that holds every expert id 0..num_experts-1.
inline int id_width_bytes_for(int num_experts) {
  if (num_experts <= 256) return 1;
  if (num_experts <= 65536) return 2;
  return 4;
}
inline H5::PredType id_file_type(int width_bytes) {
  return width_bytes == 1 ? H5::PredType::STD_U8LE : width_bytes == 2 ? H5::PredType::STD_U16LE : H5::PredType::STD_U32LE;
}
inline H5::PredType id_mem_type(int width_bytes) {
  return width_bytes == 1 ? H5::PredType::NATIVE_UINT8
                          : width_bytes == 2 ? H5::PredType::NATIVE_UINT16 : H5::PredType::NATIVE_UINT32;
}

}  // namespace moesim::traces::schema
