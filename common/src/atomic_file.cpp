#include "moesim/common/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace moesim {
namespace fs = std::filesystem;

AtomicOutput::AtomicOutput(fs::path final_path) : final_(std::move(final_path)) {
  temp_ = final_;
  temp_ += ".partial-" + std::to_string(::getpid());
  if (final_.has_parent_path()) fs::create_directories(final_.parent_path());
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) {
    std::error_code ignored;
    fs::remove(temp_, ignored);
  }
}

void AtomicOutput::commit() {
  // fsync the data before the rename so that a power cut cannot leave a complete name on empty data.
  int fd = ::open(temp_.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  fs::rename(temp_, final_, ec);
  if (ec) throw std::runtime_error(final_.string() + ": cannot move result into place: " + ec.message());
  committed_ = true;
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
