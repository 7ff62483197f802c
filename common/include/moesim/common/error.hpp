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
// Messages quote what the file said, and a hostile file may say anything: control bytes
// (newline, NUL, escape sequences) are written as C escapes so the message stays one printable line.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message);
  explicit InputError(const char* message) : InputError(std::string(message)) {}
};

// `text` with every ASCII control byte (0x00-0x1f, 0x7f) written as \n, \t, \r or \xNN.
std::string escape_control_bytes(const std::string& text);

// A failure's message as one line: LibTorch's errors (c10::Error, its CUDA out-of-memory error) append
// "\nException raised from F at FILE:LINE (most recent call first):\nframe #0: ..." — dozens of
// lines of C++ frames — to the message; that tail is dropped, and what is left kept on one line.
std::string failure_message(const std::string& what);

// "file:line:col: message" with 1-based line/column; line <= 0 leaves the position out.
std::string located(const std::filesystem::path& file, int line, int column, const std::string& message);
std::string located(const std::filesystem::path& file, const std::string& message);

}  // namespace moesim
