#include "moesim/sim/layer_traffic.hpp"

#include <doctest/doctest.h>

#include "moesim/common/error.hpp"

#include <random>

using namespace moesim::sim;

TEST_CASE("token spreads") {
  CHECK(spread_evenly(6, 3) == std::vector<int>{0, 0, 1, 1, 2, 2});
  std::vector<std::int32_t> seq = {7, 7, 7, 3, 3, 9, 9, 9};  // three sequences on two GPUs
  CHECK(spread_by_sequence(seq, 2) == std::vector<int>{0, 0, 0, 0, 0, 1, 1, 1});
}

TEST_CASE("layer traffic: conservation of token copies with and without dedup") {
  // 4 experts, 2 GPUs, contiguous: experts 0,1 on GPU 0; 2,3 on GPU 1. Top-2 routing of 4 tokens.
  auto p = contiguous_placement(4, 2);
  std::vector<std::int32_t> ids = {0, 1,   // token 0 (GPU 0): both on GPU 0 -> dedup: one local copy
                                   2, 3,   // token 1 (GPU 0): both on GPU 1 -> dedup: one copy 0->1
                                   0, 2,   // token 2 (GPU 1): one to GPU 0, one local
                                   3, 2};  // token 3 (GPU 1): both local
  std::vector<int> src = {0, 0, 1, 1};
  auto plain = build_layer_traffic(ids, 2, src, p, false, "test");
  CHECK(plain.token_copies.total_bytes() == 4 * 2);  // tokens × k
  CHECK(plain.token_copies.at(0, 0) == 2);
  CHECK(plain.token_copies.at(0, 1) == 2);
  CHECK(plain.token_copies.at(1, 0) == 1);
  CHECK(plain.token_copies.at(1, 1) == 3);
  auto dedup = build_layer_traffic(ids, 2, src, p, true, "test");
  // Duplicates removed: token 0 (1 copy saved), token 1 (1), token 3 (1).
  CHECK(dedup.token_copies.total_bytes() == 8 - 3);
  CHECK(dedup.token_copies.at(0, 1) == 1);
  CHECK(dedup.token_copies.at(1, 0) == 1);
  CHECK(dedup.tokens_on_gpu(p) == std::vector<double>{3, 5});  // compute is not deduplicated
}

TEST_CASE("layer traffic: dropped pairs (kept mask) are neither sent nor computed") {
  // The routing of the conservation case above, with 4 of its 8 pairs dropped by the strategy.
  auto p = contiguous_placement(4, 2);
  std::vector<std::int32_t> ids = {0, 1, 2, 3, 0, 2, 3, 2};
  std::vector<std::uint8_t> kept = {1, 0,   // token 0: expert 1 dropped -> one local copy
                                    0, 0,   // token 1: nothing at all (residual only)
                                    0, 1,   // token 2: expert 0 dropped -> one local copy
                                    1, 1};  // token 3: both local
  std::vector<int> src = {0, 0, 1, 1};
  auto plain = build_layer_traffic(ids, 2, src, p, false, "test", kept);
  CHECK(plain.assignments == 4);
  CHECK(plain.tokens == 4);
  CHECK(plain.token_copies.total_bytes() == 4);  // kept pairs
  CHECK(plain.token_copies.at(0, 0) == 1);
  CHECK(plain.token_copies.at(0, 1) == 0);
  CHECK(plain.token_copies.at(1, 0) == 0);
  CHECK(plain.token_copies.at(1, 1) == 3);
  CHECK(plain.tokens_on_gpu(p) == std::vector<double>{1, 3});
  auto dedup = build_layer_traffic(ids, 2, src, p, true, "test", kept);
  CHECK(dedup.token_copies.total_bytes() == 4 - 1);  // token 3's two local pairs share one copy
  CHECK(dedup.assignments == 4);
  // An all-ones mask is the same as none.
  std::vector<std::uint8_t> ones(8, 1);
  CHECK(build_layer_traffic(ids, 2, src, p, false, "test", ones).token_copies.at(0, 1) == 2);
}

TEST_CASE("layer traffic: replicas share an expert's tokens by their shares") {
  Placement p{"file", 1, 3, {{{1, 0.5}, {2, 0.25}, {0, 0.25}}}};
  std::vector<std::int32_t> ids(400, 0);
  std::vector<int> src(400, 0);
  auto lt = build_layer_traffic(ids, 1, src, p, true, "test");
  CHECK(lt.replica_tokens[0] == std::vector<double>{200, 100, 100});
  CHECK(lt.token_copies.at(0, 1) == 200);
}

TEST_CASE("layer traffic: an expert id beyond the placement is an input error") {
  auto p = contiguous_placement(4, 2);
  std::vector<std::int32_t> ids = {0, 4};
  std::vector<int> src = {0};
  CHECK_THROWS_WITH_AS(build_layer_traffic(ids, 2, src, p, true, "t.h5 layer 3"),
                       doctest::Contains("t.h5 layer 3: token 0 is routed to expert 4, but the placement has experts 0..3"),
                       moesim::InputError);
}

TEST_CASE("layer traffic: once per node, to the rail peer (DeepEP's RDMA stage)") {
  // 2 nodes x 2 GPUs (node 0: GPUs 0,1; node 1: GPUs 2,3), expert e on GPU e, top-2.
  auto p = contiguous_placement(4, 4);
  std::vector<std::int32_t> ids = {2, 3,   // token 0 (GPU 0): both in node 1 -> once to GPU 2 (rail 0)
                                   0, 3,   // token 1 (GPU 1): GPU 0 over NVLink, node 1 once to GPU 3 (rail 1)
                                   1, 2,   // token 2 (GPU 1): local, node 1 once to GPU 3
                                   0, 1};  // token 3 (GPU 3): node 0 once to GPU 1 (rail 1)
  std::vector<int> src = {0, 1, 1, 3};
  NodeLayout nodes{2};
  auto lt = build_layer_traffic(ids, 2, src, p, true, "test", {}, &nodes);
  auto expected = TrafficMatrix::zeros(4);
  expected.at(0, 2) = 1;
  expected.at(1, 3) = 2;
  expected.at(3, 1) = 1;
  CHECK(lt.node_once_copies == expected);
  // Across nodes: 6 token copies per GPU, 4 once per node.
  double cross = 0;
  for (int s = 0; s < 4; ++s)
    for (int d = 0; d < 4; ++d) cross += nodes.node_of(s) != nodes.node_of(d) ? lt.token_copies.at(s, d) : 0;
  CHECK(cross == 6);
  CHECK(build_layer_traffic(ids, 2, src, p, true, "test").node_once_copies.gpus == 0);  // not asked for
  NodeLayout three{3};
  CHECK_THROWS_WITH_AS(build_layer_traffic(ids, 2, src, p, true, "test", {}, &three),
                       doctest::Contains("do not fill whole nodes of 3 GPUs"), moesim::InputError);
}

TEST_CASE("layer traffic equals a token-by-token reference (replicas, drops, sources out of order, dedup or not)") {
  // 6 experts on 3 GPUs: experts 1 and 4 replicated with unequal shares, the others single. Sources
  // come in runs that revisit GPUs (as whole sequences do), so the replica picks of one expert span
  // several runs: the reference below walks tokens one by one with its own smooth weighted round
  // robin, as build_layer_traffic's dedup path does.
  Placement p{"file", 6, 3, {{{0, 1.0}}, {{1, 0.7}, {2, 0.3}}, {{2, 1.0}}, {{0, 1.0}}, {{0, 0.2}, {1, 0.5}, {2, 0.3}}, {{1, 1.0}}}};
  const int k = 2, tokens = 600;
  std::mt19937 rng(7);
  std::vector<std::int32_t> ids(tokens * k);
  std::vector<std::uint8_t> kept(tokens * k);
  std::vector<int> src(tokens);
  for (int t = 0; t < tokens; ++t) {
    ids[t * k] = static_cast<std::int32_t>(rng() % 6);
    ids[t * k + 1] = static_cast<std::int32_t>((ids[t * k] + 1 + rng() % 5) % 6);
    kept[t * k] = rng() % 5 != 0;
    kept[t * k + 1] = 1;
    src[t] = (t / 7) % 3;
  }
  for (bool dedup : {false, true}) {
    CAPTURE(dedup);
    std::vector<std::vector<double>> credit = {{0}, {0, 0}, {0}, {0}, {0, 0, 0}, {0}};
    std::vector<double> want(9, 0.0);
    std::vector<std::vector<double>> want_replica = credit;
    std::uint64_t want_assignments = 0;
    for (int t = 0; t < tokens; ++t) {
      std::vector<int> dest;
      for (int j = 0; j < k; ++j) {
        if (!kept[t * k + j]) continue;
        const int e = ids[t * k + j];
        std::size_t best = 0;
        for (std::size_t r = 0; r < credit[e].size(); ++r) {
          credit[e][r] += p.replicas[e][r].share;
          if (credit[e][r] > credit[e][best]) best = r;
        }
        credit[e][best] -= 1.0;
        dest.push_back(p.replicas[e][best].gpu);
        want_replica[e][best] += 1.0;
        ++want_assignments;
      }
      if (dedup && dest.size() == 2 && dest[0] == dest[1]) dest.pop_back();
      for (int d : dest) want[src[t] * 3 + d] += 1.0;
    }
    auto lt = build_layer_traffic(ids, k, src, p, dedup, "test", kept);
    CHECK(lt.token_copies.bytes == want);
    CHECK(lt.replica_tokens == want_replica);
    CHECK(lt.assignments == want_assignments);
    CHECK(lt.tokens == static_cast<std::uint64_t>(tokens));
  }
  CHECK_THROWS_AS(build_layer_traffic(std::vector<std::int32_t>{0, -1}, 2, std::vector<int>{0}, p, false, "t"),
                  moesim::InputError);
}
