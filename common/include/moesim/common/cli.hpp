#pragma once
// How every `moesim` subcommand is declared: a name, a one-line description, an example shown by
// --help, and a function run after the whole command line parsed. Exit codes: 0 ok, 1 failure,
// 2 bad input (unknown flag, bad value, unreadable or malformed file).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <type_traits>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace moesim::cli {

class Commands {
 public:
  // `run` returns an exit code; it may throw moesim::InputError (exit 2) or anything else (exit 1).
  CLI::App* add(CLI::App& parent, const std::string& name, const std::string& description,
                const std::string& example, std::function<int()> run);
  // A group such as `trace` that only holds subcommands.
  CLI::App* add_group(CLI::App& parent, const std::string& name, const std::string& description);

  // Parses argv, runs the chosen command, maps errors to exit codes and one-line messages.
  int dispatch(CLI::App& app, int argc, char** argv) const;

 private:
  std::map<const CLI::App*, std::function<int()>> runs_;
};

// The formatter every command's --help uses: CLI11's own, except that an option's "Needs:" and
// "Excludes:" names are sorted. CLI11 2.1 lists them in the order of a std::set of Option pointers,
// which changes from one process to the next, so the same --help printed different bytes (and the
// front's table, written by one process, disagreed with another's). Installed on the root app before
// any subcommand is added (subcommands inherit it).
std::shared_ptr<CLI::Formatter> stable_help_formatter();

// --json: print the machine-readable result on stdout instead of the human table.
void add_json_flag(CLI::App* cmd, bool& json);
// --quiet: no progress display.
void add_quiet_flag(CLI::App* cmd, bool& quiet);
void print_json(const nlohmann::json& result);

// The command line of this process as typed (set by Commands::dispatch); recorded in output
// files so that a result says how it was made.
const std::string& invocation();

// Throws InputError "PATH: no such file" (or "is a directory") before any work starts.
void require_file(const std::filesystem::path& path);

// ---- Number validators: `->check(cli::positive<double>())` on every numeric option ---------------
// CLI11 alone takes "nan", "inf" and "1e400" (= inf) for a double, "-1" for an unsigned (wrapped to
// 2^64-1), 2^70 for an int64 (saturated), "010" as octal 8. These validators refuse all of that
// with one line ("--lr: 'nan' is not a finite number > 0"), exit 2, before the option is converted:
// the text must be one plain decimal number (integers without leading zeros) that the option's
// type T holds, finite, and > 0 (positive) or >= 0 (non_negative).
enum class NumberLowerBound { positive, non_negative };

// "" when `text` is acceptable, else the reason (what CLI11 prints after the option's name).
// `most`: an upper bound of its own (byte counts: kMaxExactBytes, moesim/common/bytes.hpp).
template <typename T>
std::string number_error(const std::string& text, NumberLowerBound lower, T most = std::numeric_limits<T>::max()) {
  static_assert(std::is_arithmetic_v<T>);
  const char* want = lower == NumberLowerBound::positive ? "> 0" : ">= 0";
  const char* kind = std::is_floating_point_v<T> ? "a finite number" : "a whole number";
  const std::string why = fmt::format("'{}' is not {} {}", text.size() > 40 ? text.substr(0, 40) + "..." : text, kind, want);
  T value{};
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value);  // decimal only: no hex, octal, spaces
  if (ec == std::errc::result_out_of_range)
    return why + fmt::format(" (beyond {})", std::numeric_limits<T>::max());
  if (ec != std::errc() || stop != end) return why;
  // CLI11 converts integers with base 0: "010" would be octal 8. Refused rather than guessed.
  if (std::is_integral_v<T> && text.size() > 1 && text[0] == '0') return why + " (no leading zeros)";
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(value)) return why;
  if constexpr (std::is_signed_v<T>)
    if (value < T{0}) return why;
  if (lower == NumberLowerBound::positive && value == T{0}) return why;
  if (value > most) return why + fmt::format(" (at most {})", most);
  return {};
}

template <typename T = double>
CLI::Validator number_validator(NumberLowerBound lower) {
  const char* desc = lower == NumberLowerBound::positive ? "NUMBER > 0" : "NUMBER >= 0";
  return CLI::Validator([lower](std::string& text) { return number_error<T>(text, lower); },
                        desc,
                        lower == NumberLowerBound::positive ? "POSITIVE" : "NON_NEGATIVE");
}
// Finite and > 0 / finite and >= 0, for an option stored in a T (double by default).
template <typename T = double>
CLI::Validator positive() { return number_validator<T>(NumberLowerBound::positive); }
template <typename T = double>
CLI::Validator non_negative() { return number_validator<T>(NumberLowerBound::non_negative); }

// A byte count (--dispatch-bytes and the like): finite, >= 0 or > 0, and at most 2^53, the largest
// count a double holds exactly (moesim/common/bytes.hpp).
CLI::Validator byte_count(NumberLowerBound lower = NumberLowerBound::positive);

// Adds the right validator for the variable's own type: `cli::check_positive(cmd->add_option(...), o.x)`.
template <typename T>
CLI::Option* check_positive(CLI::Option* option, const T&) { return option->check(positive<T>()); }
template <typename T>
CLI::Option* check_non_negative(CLI::Option* option, const T&) { return option->check(non_negative<T>()); }

}  // namespace moesim::cli
