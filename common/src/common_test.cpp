#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/cli.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/json_number.hpp"
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;

TEST_CASE("located() formats file:line:col and leaves out unknown positions") {
  CHECK(moesim::located("a.yaml", 3, 7, "bad") == "a.yaml:3:7: bad");
  CHECK(moesim::located("a.yaml", 0, 0, "bad") == "a.yaml: bad");
}

TEST_CASE("InputError keeps a hostile file's bytes on one printable line") {
  // A link name from a fuzzed YAML file: a NUL, a newline and an escape byte inside the quoted value.
  const std::string quoted = std::string("node1/\0\nic1 \x1b[2J\t\r\x7f", 19);
  moesim::InputError e(moesim::located("p.yaml", 31, 11, "no link named '" + quoted + "'"));
  CHECK(std::string(e.what()) == "p.yaml:31:11: no link named 'node1/\\x00\\nic1 \\x1b[2J\\t\\r\\x7f'");
  CHECK(moesim::escape_control_bytes("caf\xc3\xa9 ok") == "caf\xc3\xa9 ok");  // UTF-8 passes through
}

TEST_CASE("failure_message: LibTorch's backtrace dropped, one line left") {
  // The shape of the error an H100 printed for gpt-oss-120b at 4 x 2048 (2026-12-05), frames cut short.
  const std::string oom =
      "CUDA out of memory. Tried to allocate 4.00 GiB. GPU 0 has a total capacity of 79.18 GiB of which 1.5 GiB is "
      "free.\nException raised from malloc at /pytorch/c10/cuda/CUDACachingAllocator.cpp:1459 (most recent call "
      "first):\nframe #0: c10::Error::Error(...) + 0x98 (0x7f in libc10.so)\nframe #1: <unknown function>\n";
  CHECK(moesim::failure_message(oom) ==
        "CUDA out of memory. Tried to allocate 4.00 GiB. GPU 0 has a total capacity of 79.18 GiB of which 1.5 GiB is free.");
  CHECK(moesim::failure_message("disk full") == "disk full");
  CHECK(moesim::failure_message("two\nlines") == "two\\nlines");  // no backtrace: kept, on one line
}

TEST_CASE("an uncommitted AtomicOutput leaves neither the final file nor its temporary") {
  fs::path dir = moesim::testing::scratch_subdir("atomic");
  fs::path final_path = dir / "out.txt";
  fs::path temp;
  {
    moesim::AtomicOutput out(final_path);
    temp = out.temp_path();
    std::ofstream(temp) << "half";
  }
  CHECK_FALSE(fs::exists(final_path));
  CHECK_FALSE(fs::exists(temp));
  moesim::write_file_atomically(final_path, "whole");
  std::ifstream in(final_path);
  std::string text;
  in >> text;
  CHECK(text == "whole");
  fs::remove_all(dir);
}

namespace {
// Message of json_integer on `text` (a JSON value) for an int field in 0..1000, or its value.
std::string integer_of(const std::string& text) {
  try {
    return std::to_string(moesim::json_integer(nlohmann::json::parse(text), "c.json", "field 'k'", 0, 1000));
  } catch (const moesim::InputError& e) {
    return e.what();
  }
}
std::string int32_of(const std::string& text) {
  try {
    return std::to_string(moesim::json_integer<std::int32_t>(nlohmann::json::parse(text), "c.json", "field 'k'"));
  } catch (const moesim::InputError& e) {
    return e.what();
  }
}
}  // namespace

TEST_CASE("json_integer: whole numbers in range pass, everything else names file and field") {
  CHECK(integer_of("7") == "7");
  CHECK(integer_of("7.0") == "7");  // what Python writes for float(7): still a whole number
  CHECK(integer_of("1000") == "1000");
  CHECK(integer_of("1001") == "c.json: field 'k' = 1001 is outside 0..1000");
  // nlohmann stores 0 and every positive integer as unsigned: the lower bound applies to them too.
  CHECK_THROWS_WITH_AS(moesim::json_integer(nlohmann::json::parse("0"), "c.json", "field 'k'", 1, 8),
                       "c.json: field 'k' = 0 is outside 1..8", moesim::InputError);
  CHECK_THROWS_WITH_AS(moesim::json_integer(nlohmann::json::parse("3"), "c.json", "field 'k'", -8, -1),
                       "c.json: field 'k' = 3 is outside -8..-1", moesim::InputError);
  CHECK(integer_of("-1") == "c.json: field 'k' = -1 is outside 0..1000");
  CHECK(integer_of("3.5") == "c.json: field 'k' = 3.5 is not a whole number");
  CHECK(integer_of("1e30") == "c.json: field 'k' = 1e+30 is outside 0..1000");
  CHECK(integer_of("-1e30") == "c.json: field 'k' = -1e+30 is outside 0..1000");
  CHECK(integer_of("1099511627776") == "c.json: field 'k' = 1099511627776 is outside 0..1000");  // 2^40
  CHECK(integer_of("18446744073709551615") == "c.json: field 'k' = 18446744073709551615 is outside 0..1000");
  CHECK(integer_of("\"8\"") == "c.json: field 'k' must be a whole number, got \"8\"");
  CHECK(integer_of("true") == "c.json: field 'k' must be a whole number, got true");
  CHECK(integer_of("null") == "c.json: field 'k' must be a whole number, got null");
  // The type's own range: 2^31 does not fit an int32 (get<int32_t> would wrap it to -2^31).
  CHECK(int32_of("2147483647") == "2147483647");
  CHECK(int32_of("2147483648") == "c.json: field 'k' = 2147483648 is outside -2147483648..2147483647");
  CHECK(int32_of("9.3e18") == "c.json: field 'k' = 9.3e+18 is outside -2147483648..2147483647");
  CHECK(int32_of("-2147483648") == "-2147483648");
}

// Regression: CLI11 alone accepts nan, inf, 1e400, "-1" for an unsigned (wrapped) and 2^70 for an
// int64 (saturated); the validators refuse each with the reason.
TEST_CASE("number validators: finite, in the type's range, > 0 or >= 0, plain decimal") {
  using moesim::cli::NumberLowerBound;
  using moesim::cli::number_error;
  const auto pos = NumberLowerBound::positive;
  const auto nonneg = NumberLowerBound::non_negative;
  for (const char* ok : {"1", "0.5", "1e-3", "1e300", "2.5e9"}) CHECK(number_error<double>(ok, pos).empty());
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "0", "-1", "1e400", "", " 1", "1 ", "1x", "0x10"})
    CHECK_MESSAGE(!number_error<double>(bad, pos).empty(), bad);
  CHECK(number_error<double>("0", nonneg).empty());
  CHECK(number_error<double>("-0.1", nonneg) == "'-0.1' is not a finite number >= 0");
  CHECK(number_error<double>("nan", pos) == "'nan' is not a finite number > 0");
  CHECK(number_error<double>("1e400", pos).find("beyond") != std::string::npos);
  CHECK(number_error<std::uint64_t>("18446744073709551615", pos).empty());
  CHECK(number_error<std::uint64_t>("18446744073709551616", pos).find("beyond 18446744073709551615") != std::string::npos);
  CHECK(number_error<std::uint64_t>("-1", nonneg) == "'-1' is not a whole number >= 0");
  CHECK_FALSE(number_error<std::int64_t>("1180591620717411303424", pos).empty());  // 2^70
  CHECK_FALSE(number_error<int>("2147483648", pos).empty());
  CHECK(number_error<int>("010", pos) == "'010' is not a whole number > 0 (no leading zeros)");  // CLI11: octal 8
  CHECK_FALSE(number_error<int>("1.5", pos).empty());
  CHECK_FALSE(number_error<int>("1e3", pos).empty());
  CHECK(number_error<int>("0", nonneg).empty());
  CHECK_FALSE(number_error<int>("0", pos).empty());
}

TEST_CASE("a validated option refuses nan and overflow at parse time") {
  CLI::App app;
  double launch_us = 1;
  std::uint64_t tokens = 1;
  app.add_option("--launch-us", launch_us)->check(moesim::cli::positive<double>());
  moesim::cli::check_non_negative(app.add_option("--tokens", tokens), tokens);
  CHECK_THROWS_WITH_AS(app.parse(std::vector<std::string>{"nan", "--launch-us"}), "--launch-us: 'nan' is not a finite number > 0",
                       CLI::ValidationError);
  CHECK_THROWS_AS(app.parse(std::vector<std::string>{"-1", "--tokens"}), CLI::ValidationError);
  app.parse(std::vector<std::string>{"7", "--tokens", "2.5", "--launch-us"});
  CHECK(launch_us == 2.5);
  CHECK(tokens == 7);
}

// Regression: `--out` naming a folder, or a path below a file, exited 1 (a filesystem exception)
// although the user only has to correct the path: bad input, exit 2.
TEST_CASE("AtomicOutput refuses a folder or a path below a file as bad input") {
  const fs::path folder = moesim::testing::scratch_path("atomic_out_folder");
  fs::create_directories(folder);
  CHECK_THROWS_WITH_AS(moesim::AtomicOutput{folder}, doctest::Contains("is a folder; give a file name to write"),
                       moesim::InputError);
  const fs::path file = moesim::testing::scratch_path("atomic_out_plain_file");
  moesim::write_file_atomically(file, "x");
  CHECK_THROWS_WITH_AS(moesim::AtomicOutput{file / "sub" / "result.json"}, doctest::Contains("is a file, not a folder"),
                       moesim::InputError);
}
