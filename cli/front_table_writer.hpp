#pragma once
// The front's table, written at build time by the back end that has every command (moesim-model
// with LibTorch, else moesim-core): for each command path ("", "trace", "trace stats", ...) the
// exact text `moesim PATH --help` prints, the text of `moesim --version`, and which top-level
// commands moesim-model runs. The front (front.cpp) compiles it in, so that --help costs neither
// SimGrid, HDF5 nor LibTorch being loaded (issue 21: start-up <= 50 ms CPU, <= 30 MB). Every text is
// what CLI11 prints for that command line in this very executable, so the two cannot differ.
namespace moesim::cli_main {

inline constexpr const char* kWriteFrontTableFlag = "--write-front-table";

// Writes the table as a C++ source file (atomically: a temporary file renamed); returns an exit code.
int write_front_table(const char* out_path);

}  // namespace moesim::cli_main
