#include "moesim/common/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "moesim/common/error.hpp"

namespace moesim {
namespace fs = std::filesystem;

AtomicOutput::AtomicOutput(fs::path final_path) : final_(std::move(final_path)) {
  temp_ = final_;
  temp_ += ".partial-" + std::to_string(::getpid());
  // A path the user can correct (exit 2), unlike a full disk or a read-only folder (exit 1).
  std::error_code ec;
  if (fs::is_directory(final_, ec)) throw InputError(located(final_, "is a folder; give a file name to write"));
  refuse_path_below_a_file(final_);
  if (final_.has_parent_path()) fs::create_directories(final_.parent_path());
}

void refuse_path_below_a_file(const fs::path& path) {
  std::error_code ec;
  for (fs::path folder = path.parent_path(); !folder.empty(); folder = folder.parent_path()) {
    if (fs::exists(folder, ec)) {
      if (!fs::is_directory(folder, ec))
        throw InputError(located(path, fmt::format("cannot write here: '{}' is a file, not a folder", folder.string())));
      break;
    }
    if (folder == folder.parent_path()) break;
  }
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) {
    std::error_code ignored;
    fs::remove(temp_, ignored);
  }
}

// fsync of one path (a file or a folder); a failure means the data may not be on disk.
static void sync_path(const fs::path& path, int open_flags) {
  int fd = ::open(path.c_str(), open_flags | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path.string() + ": cannot open to sync: " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error(path.string() + ": fsync failed: " + std::strerror(err));
}

void AtomicOutput::commit() {
  // The writer must have closed the temporary file: everything written to it is on disk before
  // the rename, so that neither a kill nor a power cut can leave a complete name on partial data.
  sync_path(temp_, O_RDONLY);
  std::error_code ec;
  fs::rename(temp_, final_, ec);
  if (ec) throw std::runtime_error(final_.string() + ": cannot move result into place: " + ec.message());
  committed_ = true;
  // The rename itself is durable only once the folder is synced; best effort (some filesystems
  // refuse fsync on a folder), the result is already whole under its name.
  fs::path folder = final_.has_parent_path() ? final_.parent_path() : fs::path(".");
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void write_file_atomically(const fs::path& path, std::string_view content) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw std::runtime_error(path.string() + ": cannot write: " + std::strerror(errno));
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!f) throw std::runtime_error(path.string() + ": write failed: " + std::strerror(errno));
  }
  out.commit();
}

}  // namespace moesim
