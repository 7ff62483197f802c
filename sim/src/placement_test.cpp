#include "moesim/sim/placement.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "moesim/common/error.hpp"
#include "moesim/testing/scratch.hpp"

using namespace moesim::sim;

TEST_CASE("contiguous and strided placements") {
  auto c = contiguous_placement(8, 4);
  CHECK(c.replicas[0][0].gpu == 0);
  CHECK(c.replicas[1][0].gpu == 0);
  CHECK(c.replicas[2][0].gpu == 1);
  CHECK(c.replicas[7][0].gpu == 3);
  auto s = strided_placement(8, 4);
  CHECK(s.replicas[5][0].gpu == 1);
  CHECK(s.experts_on_gpu(2) == std::vector<int>{2, 6});
}

TEST_CASE("EPLB replicates the heaviest expert and packs replicas by load") {
  // Loads 90, 30, 20, 10 on 2 GPUs with 2 redundant replicas (3 slots per GPU).
  // Replication: 90 -> 2 replicas (45 each), then max per replica is 45 -> 3 replicas (30 each).
  // Replicas: 30,30,30 (expert 0), 30 (e1), 20 (e2), 10 (e3). Packing heaviest first onto the
  // least-loaded GPU with room: e0->g0(30), e0->g1(30), e0->g0(60), e1->g1(60), e2->g0(80), e3->g1(70).
  std::vector<double> loads = {90, 30, 20, 10};
  auto p = eplb_placement(loads, 2, 2);
  REQUIRE(p.replicas[0].size() == 3);
  CHECK(p.replicas[0][0].share == doctest::Approx(1.0 / 3));
  CHECK(p.replicas[1].size() == 1);
  CHECK(p.replicas[1][0].gpu == 1);
  CHECK(p.replicas[2][0].gpu == 0);
  CHECK(p.replicas[3][0].gpu == 1);
  CHECK(p.experts_on_gpu(0) == std::vector<int>{0, 0, 2});
  CHECK_THROWS_AS(eplb_placement(loads, 3, 0), moesim::InputError);  // 4 replicas on 3 GPUs: no equal slots
}

TEST_CASE("placement file: JSON replicas, and GPUs beyond the platform are errors") {
  auto good = moesim::testing::scratch_path("placement.json");
  std::ofstream(good) << R"({"experts": [[0], [1, 0], [[1, 3], [0, 1]], 1]})";
  auto p = load_placement(good, 4, 2);
  CHECK(p.replicas[1].size() == 2);
  CHECK(p.replicas[1][1].share == doctest::Approx(0.5));
  CHECK(p.replicas[2][0].share == doctest::Approx(0.75));
  CHECK(p.replicas[3][0].gpu == 1);
  CHECK_THROWS_WITH_AS(load_placement(good, 4, 1), doctest::Contains("placed on GPU 1, but there are only 1 GPUs"),
                       moesim::InputError);
  CHECK_THROWS_WITH_AS(load_placement(good, 5, 2), doctest::Contains("lists 4 experts, the model has 5"),
                       moesim::InputError);
  std::filesystem::remove(good);
}

TEST_CASE("placement file: GPU indices that do not fit an int are errors, never wrapped to a valid GPU") {
  auto file = moesim::testing::scratch_path("placement_big.json");
  auto error_of = [&](const std::string& text) {
    std::ofstream(file) << text;
    try {
      load_placement(file, 2, 2);
    } catch (const moesim::InputError& e) {
      std::string m = e.what();
      return m.substr(m.find(": ") + 2);  // without the path
    }
    return std::string("no error");
  };
  // 2^32 and 2^32 + 1 wrap to GPUs 0 and 1 through get<int>(): both would have loaded.
  CHECK(error_of(R"({"experts": [[4294967296], [1]]})") ==
        "expert 0 is placed on GPU 4294967296, but there are only 2 GPUs (0..1)");
  CHECK(error_of(R"({"experts": [[0], [[4294967297, 1.0]]]})") ==
        "expert 1 is placed on GPU 4294967297, but there are only 2 GPUs (0..1)");
  CHECK(error_of(R"({"experts": [[0], [18446744073709551615]]})") ==
        "expert 1: GPU = 18446744073709551615 is outside -9223372036854775808..9223372036854775807");
  CHECK(error_of(R"({"experts": [[-1], [1]]})") == "expert 0 is placed on GPU -1, but there are only 2 GPUs (0..1)");
  CHECK(error_of(R"({"experts": [[0.0], [1]]})") == "expert 0: a replica is a GPU index or [gpu, share]");
  CHECK(error_of(R"({"experts": [[1e30], [1]]})") == "expert 0: a replica is a GPU index or [gpu, share]");
  CHECK(error_of(R"({"experts": [[0], [1e400]]})").starts_with("invalid JSON: [json.exception.out_of_range.406]"));
  std::filesystem::remove(file);
  // The CSV form: the same check before the cast, and a share that is not a number is not 1.0.
  file.replace_extension(".csv");
  CHECK(error_of("0,4294967296\n1,1\n") == "expert 0 is placed on GPU 4294967296, but there are only 2 GPUs (0..1)");
  CHECK(error_of("0,0,abc\n1,1\n") == "share 'abc' is not a number");
  std::filesystem::remove(file);
}

TEST_CASE("placement file: huge replica shares still split an expert's tokens exactly (found by fuzzing)") {
  // Two shares of 1e308 summed to +inf, and 1e308 / inf = 0: the expert had two replicas serving
  // nothing (tests/fuzz/regressions/placement/). Shares are scaled by the largest first.
  auto file = moesim::testing::scratch_file("placement_huge.csv", "0,0,1.5e308\n0,1,1e308\n1,1\n");
  auto p = load_placement(file, 2, 2);
  REQUIRE(p.replicas[0].size() == 2);
  CHECK(p.replicas[0][0].share == doctest::Approx(0.6));
  CHECK(p.replicas[0][1].share == doctest::Approx(0.4));
  auto json = moesim::testing::scratch_file("placement_inf.json", R"({"experts": [[[0, 1e308], [1, 1e308]], [1]]})");
  CHECK(load_placement(json, 2, 2).replicas[0][1].share == doctest::Approx(0.5));
  auto inf = moesim::testing::scratch_file("placement_inf.csv", "0,0,inf\n1,1\n");
  CHECK_THROWS_AS(load_placement(inf, 2, 2), moesim::InputError);
}

TEST_CASE("placement file: a CSV with a UTF-8 byte order mark and CRLF lines loads") {
  auto p = moesim::testing::scratch_path("placement_bom.csv");
  std::ofstream(p) << "\xEF\xBB\xBF" "0,1\r\n1,0\r\n";
  auto placement = load_placement(p, 2, 2);
  CHECK(placement.replicas[0][0].gpu == 1);
  CHECK(placement.replicas[1][0].gpu == 0);
}
