#include "moesim/sim/placement.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "moesim/common/error.hpp"

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
  auto dir = std::filesystem::temp_directory_path();
  auto good = dir / ("moesim_place_" + std::to_string(::getpid()) + ".json");
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
