# Dependencies of the moesim-gpu build (-DMOESIM_GPU_ONLY=ON): LibTorch from the machine's PyTorch
# and the header-only libraries (fmt, nlohmann_json, CLI11), e.g. unpacked from Debian 12 .debs
# into a prefix named in CMAKE_PREFIX_PATH (scripts/gpu/pack_carry.sh).
find_package(Torch REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)
# fmt header-only: no libfmt.so needed at run time there, and Debian's fmt headers come before the
# fmt copy inside PyTorch's include directory (moesim::common links it PUBLIC, ahead of LibTorch).
set(MOESIM_FMT fmt::fmt-header-only)
# The fused kernels (model/src/cuda/) link the CUDA runtime LibTorch links, the shared one: one
# runtime per process.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
