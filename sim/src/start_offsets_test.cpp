#include "moesim/sim/start_offsets.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "moesim/common/error.hpp"

using namespace moesim::sim;

TEST_CASE("start offsets from a file: microseconds, commas or blanks, comments") {
  auto file = std::filesystem::temp_directory_path() / "moesim_start_offsets_test.txt";
  std::ofstream(file) << "# measured skew\n0, 1.5\n3 # third GPU\n\n4.25\n";
  auto s = parse_start_offsets(file.string());
  auto o = s.resolve(4);
  REQUIRE(o.size() == 4);
  CHECK(o[1] == doctest::Approx(1.5e-6));
  CHECK(o[3] == doctest::Approx(4.25e-6));
  CHECK_THROWS_WITH_AS(s.resolve(8), doctest::Contains("4 start offsets for 8 GPUs"), moesim::InputError);
  std::ofstream(file) << "0\n-2\n";
  CHECK_THROWS_WITH_AS(parse_start_offsets(file.string()), doctest::Contains(":2:"), moesim::InputError);
  std::ofstream(file) << "0\nnan\n";
  CHECK_THROWS_AS(parse_start_offsets(file.string()), moesim::InputError);
  std::filesystem::remove(file);
  CHECK_THROWS_AS(parse_start_offsets("/nonexistent/offsets.txt"), moesim::InputError);
}

TEST_CASE("uniform start offsets: seeded, within [0, max], the same on every run") {
  auto a = parse_start_offsets("uniform:20:7").resolve(64);
  auto b = parse_start_offsets("uniform:20:7").resolve(64);
  CHECK(a == b);
  double lo = 1, hi = 0, sum = 0;
  for (double o : a) lo = std::min(lo, o), hi = std::max(hi, o), sum += o;
  CHECK(lo >= 0);
  CHECK(hi <= 20e-6);
  CHECK(sum / 64 == doctest::Approx(10e-6).epsilon(0.25));  // mean of U(0, 20 us), 64 draws
  CHECK(parse_start_offsets("uniform:20:8").resolve(64) != a);
  CHECK_THROWS_AS(parse_start_offsets("uniform:x"), moesim::InputError);
  CHECK_THROWS_AS(parse_start_offsets("uniform:5:-1"), moesim::InputError);
}
