# Project-wide compile settings as INTERFACE targets, linked PRIVATE by every moesim target,
# so that consumers of our libraries do not inherit our warning flags.
add_library(moesim_options INTERFACE)
target_compile_features(moesim_options INTERFACE cxx_std_20)
if(MOESIM_SANITIZE)
  target_compile_options(moesim_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(moesim_options INTERFACE -fsanitize=address,undefined)
endif()

add_library(moesim_warnings INTERFACE)
# C++ only: nvcc (the GPU build's fused kernels) takes host-compiler warnings another way.
target_compile_options(moesim_warnings INTERFACE "$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra>")
if(MOESIM_WERROR)
  target_compile_options(moesim_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()

# moesim_add_tests(NAME sources... LIBS libs...): one doctest executable per folder, each
# TEST_CASE registered with ctest. Tests may read ../shared/data through MOESIM_SHARED_DATA.
function(moesim_add_tests name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/doctest_main.cpp ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} doctest::doctest moesim_options moesim_warnings)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)  # moesim/testing/
  target_compile_definitions(${name} PRIVATE
    MOESIM_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MOESIM_SHARED_DATA="${MOESIM_SHARED_DATA}")
  # Malloc as `moesim` runs its back ends: large blocks on transparent huge pages
  # (common/include/moesim/common/malloc_huge_pages.hpp).
  doctest_discover_tests(${name} WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    PROPERTIES ENVIRONMENT "GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
endfunction()
