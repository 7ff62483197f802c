#include "moesim/sim/traffic_matrix.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "moesim/common/error.hpp"
#include "moesim/testing/scratch.hpp"

using namespace moesim::sim;
namespace fs = std::filesystem;

TEST_CASE("traffic matrix: CSV in tokens becomes bytes, sums exclude the diagonal") {
  auto p = moesim::testing::scratch_file("m.csv", "# src\\dst\n0,2,1\n3,5,0\n1,1,0\n");
  auto m = load_traffic_matrix(p, MatrixUnit::kTokens, 10.0);
  CHECK(m.gpus == 3);
  CHECK(m.at(0, 1) == 20.0);
  CHECK(m.at(1, 1) == 50.0);
  CHECK(m.network_bytes() == (2 + 1 + 3 + 1 + 1) * 10.0);
  CHECK(m.total_bytes() == (2 + 1 + 3 + 5 + 1 + 1) * 10.0);
  CHECK(m.bytes_out() == std::vector<double>{30, 30, 20});
  CHECK(m.bytes_in() == std::vector<double>{40, 30, 10});
  CHECK(m.transposed().at(1, 0) == 20.0);
  fs::remove(p);
}

TEST_CASE("traffic matrix: JSON with its own unit") {
  auto p = moesim::testing::scratch_file("m.json", R"({"unit": "tokens", "matrix": [[0, 4], [2, 0]]})");
  auto m = load_traffic_matrix(p, MatrixUnit::kBytes, 3.0);
  CHECK(m.at(0, 1) == 12.0);
  CHECK(m.at(1, 0) == 6.0);
  fs::remove(p);
}

TEST_CASE("traffic matrix: wrong shapes and bad cells are input errors naming file, line and column") {
  auto ragged = moesim::testing::scratch_file("ragged.csv", "0,1\n1,0,3\n");
  CHECK_THROWS_WITH_AS(load_traffic_matrix(ragged, MatrixUnit::kBytes, 1), doctest::Contains(":2:1: row has 3 columns"),
                       moesim::InputError);
  auto rect = moesim::testing::scratch_file("rect.csv", "0,1,2\n1,0,3\n");
  CHECK_THROWS_WITH_AS(load_traffic_matrix(rect, MatrixUnit::kBytes, 1), doctest::Contains("must be square"),
                       moesim::InputError);
  auto bad = moesim::testing::scratch_file("bad.csv", "0,1\n1,x\n");
  CHECK_THROWS_WITH_AS(load_traffic_matrix(bad, MatrixUnit::kBytes, 1), doctest::Contains(":2:3: 'x' is not a number"),
                       moesim::InputError);
  auto neg = moesim::testing::scratch_file("neg.json", "[[0,-1],[1,0]]");
  CHECK_THROWS_WITH_AS(load_traffic_matrix(neg, MatrixUnit::kBytes, 1), doctest::Contains("row 0 column 1"),
                       moesim::InputError);
  for (auto& p : {ragged, rect, bad, neg}) fs::remove(p);
}

TEST_CASE("balanced_like spreads the network bytes evenly over distinct pairs") {
  TrafficMatrix m = TrafficMatrix::zeros(3);
  m.at(0, 1) = 60;
  m.at(2, 2) = 1000;  // local, not on the network
  auto b = balanced_like(m);
  CHECK(b.network_bytes() == doctest::Approx(60));
  CHECK(b.at(1, 0) == doctest::Approx(10));
  CHECK(b.at(2, 2) == 0);
}

// Regression: every value from 1e19 to 1e300 bytes replayed as the same saturated 2^64 bytes
// (184467440.7 s), below the printed bound. Above 2^53 a count is not exact: refused.
TEST_CASE("traffic matrix: byte counts above 2^53 are refused, 2^53 itself loads exactly") {
  auto edge = moesim::testing::scratch_file("edge.csv", "0,9007199254740992\n1,0\n");
  CHECK(load_traffic_matrix(edge, MatrixUnit::kBytes, 1).at(0, 1) == 9007199254740992.0);
  for (const char* big : {"1e19", "9007199254740994", "1e300"}) {
    auto p = moesim::testing::scratch_file("big.csv", std::string("0,") + big + "\n1,0\n");
    CHECK_THROWS_WITH_AS(load_traffic_matrix(p, MatrixUnit::kBytes, 1), doctest::Contains("is more than 2^53"),
                         moesim::InputError);
  }
  auto tokens = moesim::testing::scratch_file("tokens.json", R"({"unit": "tokens", "matrix": [[0, 1e15], [0, 0]]})");
  CHECK_THROWS_WITH_AS(load_traffic_matrix(tokens, MatrixUnit::kBytes, 7168), doctest::Contains("row 0 column 1"),
                       moesim::InputError);
}

// Regression: a CSV saved by a spreadsheet starts with a UTF-8 byte order mark; the error pointed at it.
TEST_CASE("traffic matrix: a UTF-8 byte order mark before the first row is skipped") {
  auto p = moesim::testing::scratch_file("bom.csv", "\xEF\xBB\xBF" "0,4\r\n2,0\r\n");
  auto m = load_traffic_matrix(p, MatrixUnit::kBytes, 1);
  CHECK(m.at(0, 1) == 4.0);
  CHECK(m.at(1, 0) == 2.0);
}
