# Every dependency is a Debian 12 package; docs/toolchain.md lists the target names.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SimGrid REQUIRED IMPORTED_TARGET simgrid>=3.32)
find_package(yaml-cpp 0.7 REQUIRED)                 # target: yaml-cpp
find_package(HDF5 REQUIRED COMPONENTS CXX)          # target: HDF5::HDF5
find_package(Boost 1.74 REQUIRED COMPONENTS graph)  # target: Boost::graph
find_package(nlohmann_json 3 REQUIRED)
find_package(fmt REQUIRED)
set(MOESIM_FMT fmt::fmt)  # fmt::fmt-header-only in the moesim-gpu build (dependencies_gpu.cmake)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)
if(BUILD_TESTING)
  find_package(doctest REQUIRED)
  include(doctest)
endif()
if(MOESIM_WITH_TORCH)
  find_package(Torch REQUIRED)
  pkg_check_modules(SPM REQUIRED IMPORTED_TARGET sentencepiece)
  pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
endif()

# Real data sets live beside the checkout (../shared/data); tests that need them skip when absent.
set(MOESIM_SHARED_DATA "${PROJECT_SOURCE_DIR}/../shared/data" CACHE PATH "Directory holding WikiText-2, LAMBADA, C4, tokenizers")
