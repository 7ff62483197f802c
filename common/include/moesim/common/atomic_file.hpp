#pragma once
// Results are never half-written: every output goes to "<name>.partial-<pid>" next to its final
// path and is renamed over it only once complete (rename is atomic within one filesystem).
// A crash leaves at most a *.partial-* file, which no reader opens as a result.
#include <filesystem>
#include <string_view>

namespace moesim {

class AtomicOutput {
 public:
  explicit AtomicOutput(std::filesystem::path final_path);
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput();  // removes the temporary file unless commit() ran

  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& final_path() const { return final_; }
  void commit();  // fsync + rename temp over final

 private:
  std::filesystem::path final_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

void write_file_atomically(const std::filesystem::path& path, std::string_view content);

// A path the user can correct (InputError, exit 2) rather than a failure of the machine: throws when
// a folder above `path` that exists is a file ("out.h5/result" below a file out.h5).
void refuse_path_below_a_file(const std::filesystem::path& path);

}  // namespace moesim
