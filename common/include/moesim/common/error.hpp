#pragma once
// Two kinds of failure, because batch scripts must tell them apart by exit code:
// bad input (a file or flag the user can fix) exits 2, anything else exits 1.
#include <filesystem>
#include <stdexcept>
#include <string>

namespace moesim {

enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitBadInput = 2 };

// A problem with what the user gave us. The message is one line and names the file
// (and line:column where known), e.g. "cluster.yaml:12:5: unknown key 'bandwith' (did you mean 'bandwidth'?)".
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "file:line:col: message" with 1-based line/column; line <= 0 leaves the position out.
std::string located(const std::filesystem::path& file, int line, int column, const std::string& message);
std::string located(const std::filesystem::path& file, const std::string& message);

}  // namespace moesim
