# The torch-free files that read config.json: config.cpp, the architecture table and every
# architecture's parse function. One list, included by model/CMakeLists.txt (the model library)
# and tests/fuzz/CMakeLists.txt (the config fuzzer, built without LibTorch). Adding an
# architecture adds its parse file here.
set(MOESIM_MODEL_CONFIG_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/src/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/architectures.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/quantization_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/mixtral.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/qwen3_moe.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/olmoe.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/qwen2_moe.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/deepseek_v3_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/deepseek_v2.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/glm4_moe.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/ernie4_5_moe.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/granitemoe.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/gpt_oss.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/phimoe.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/sliding_window.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/llama4_config.cpp)
