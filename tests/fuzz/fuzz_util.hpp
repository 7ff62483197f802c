#pragma once
// Shared by the harnesses: writing fuzzer bytes to a real file (the parsers under test open paths,
// as users' files do) and the one rule every harness enforces: a bad input may only end in
// moesim::InputError. Any other exception escapes, and libFuzzer (or the replay driver) reports it.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

// Built in so that a harness run by hand needs no LSAN_OPTIONS: see lsan.supp for why. Defined
// here, not inline: each harness binary includes this header from exactly one file.
extern "C" __attribute__((used)) const char* __lsan_default_suppressions() { return "leak:libhdf5_serial.so\n"; }

namespace moesim::fuzz {

// Where harnesses put their files: "moesim-fuzz-<pid>" names in $TMPDIR, so that parallel jobs
// (fork mode) do not clash; or, with MOESIM_FUZZ_SCRATCH_DIR (run_fuzzers.sh --runs, one process),
// fixed names in that folder: the path appears in error messages, whose bytes steer libFuzzer, and a
// pid in them made two runs of the same code and seed differ.
inline std::filesystem::path scratch_path(const std::string& name) {
  if (const char* fixed = std::getenv("MOESIM_FUZZ_SCRATCH_DIR"); fixed && *fixed) {
    std::filesystem::create_directories(fixed);
    return std::filesystem::path(fixed) / ("moesim-fuzz" + name);
  }
  const char* dir = std::getenv("TMPDIR");
  return std::filesystem::path(dir && *dir ? dir : "/tmp") / ("moesim-fuzz-" + std::to_string(::getpid()) + name);
}

// One temporary file per process, rewritten for every input; removed at exit.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& suffix) : path_(scratch_path(suffix)) {}
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const std::filesystem::path& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f) std::abort();  // the harness cannot run at all: fail loudly, not silently pass
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The brief's promise for bad input: one line that names the file. A message breaking it is a
// finding like a crash (abort, so that libFuzzer saves the input). must_name_file = false where the
// error may rightly name another file (a platform's `extends:`). MOESIM_FUZZ_PRINT=1 prints each
// message, which is how docs/BAD_INPUTS.md's rows were collected (replay a directory of bad files).
inline void expect_one_line_naming(const char* message, const std::filesystem::path& file,
                                   bool must_name_file = true) {
  std::string_view m(message);
  if (m.find('\n') != std::string_view::npos || (must_name_file && m.find(file.string()) == std::string_view::npos)) {
    std::fprintf(stderr, "bad error message (must be one line naming %s): %s\n", file.c_str(), message);
    std::abort();
  }
  if (std::getenv("MOESIM_FUZZ_PRINT")) std::fprintf(stderr, "InputError: %s\n", message);
}

}  // namespace moesim::fuzz
