// The kept mask of format 1.1: dropped (token, expert) pairs are marked, read back, and left out of
// the loads; files without a mask (1.0) read as "every pair kept". Values worked by hand.
#include <doctest/doctest.h>
#include <H5Cpp.h>

#include <filesystem>

#include "moesim/common/error.hpp"
#include "moesim/traces/trace_reader.hpp"
#include "moesim/traces/trace_stats.hpp"
#include "moesim/traces/trace_writer.hpp"
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;
using namespace moesim::traces;

namespace {

// 5 tokens (steps of 3 and 2), 4 experts, top-2. Layer 0 drops 4 of its 10 pairs; layer 1's
// routing comes without a mask (an empty span = every pair kept).
//   layer 0 ids  {0,1 | 2,3 | 3,0 || 2,0 | 2,1}
//           kept {1,0 | 1,1 | 0,0 || 1,1 | 1,0}
//   layer 1 ids  {1,0 | 1,2 | 1,3 || 3,2 | 0,1}
fs::path write_masked_trace(const std::string& name, bool mask = true) {
  fs::path p = moesim::testing::scratch_path(name);
  fs::remove(p);
  TraceHeader h;
  h.model = "hand";
  h.architecture = "synthetic";
  h.num_layers = 2;
  h.num_experts = 4;
  h.top_k = 2;
  h.hidden_size = 8;
  h.routing_strategy = "capacity:factor=1.0";
  h.has_kept_mask = mask;
  TraceWriter w(p, h, WriterOptions{.chunk_tokens = 2});
  std::vector<std::int32_t> seq = {0, 0, 1}, pos = {0, 1, 0};
  std::vector<std::int32_t> ids0 = {0, 1, 2, 3, 3, 0}, ids1 = {1, 0, 1, 2, 1, 3};
  std::vector<std::uint8_t> kept0 = {1, 0, 1, 1, 0, 0};
  std::vector<float> g = {1.0f, 0.0f, 0.6f, 0.4f, 0.0f, 0.0f};
  std::vector<LayerRouting> r = {{ids0, g, {}, mask ? std::span<const std::uint8_t>(kept0) : std::span<const std::uint8_t>()},
                                 {ids1, g, {}, {}}};
  w.append_step({seq, pos, {}}, r);
  std::vector<std::int32_t> seq2 = {1, 1}, pos2 = {1, 2};
  std::vector<std::int32_t> ids2 = {2, 0, 2, 1}, ids3 = {3, 2, 0, 1};
  std::vector<std::uint8_t> kept2 = {1, 1, 1, 0};
  std::vector<float> g2 = {0.9f, 0.1f, 1.0f, 0.0f};
  std::vector<LayerRouting> r2 = {{ids2, g2, {}, mask ? std::span<const std::uint8_t>(kept2) : std::span<const std::uint8_t>()},
                                  {ids3, g2, {}, {}}};
  w.append_step({seq2, pos2, {}}, r2);
  w.close();
  return p;
}

template <class F>
void edit(const fs::path& p, F f) {
  H5::H5File file(p.string(), H5F_ACC_RDWR);
  f(file);
}

}  // namespace

TEST_CASE("kept mask: written, read back by layer, step and slice") {
  fs::path p = write_masked_trace("roundtrip.h5");
  TraceReader r(p);
  CHECK(r.header().has_kept_mask);
  CHECK(r.header().version_minor == 1);
  auto all = r.read_layer(0, 0, 5);
  CHECK(all.kept == std::vector<std::uint8_t>{1, 0, 1, 1, 0, 0, 1, 1, 1, 0});
  CHECK_FALSE(all.is_kept(1));
  CHECK(all.is_kept(2));
  CHECK(r.read_step(0, 1).kept == std::vector<std::uint8_t>{1, 1, 1, 0});
  CHECK(r.read_layer(1, 0, 5).kept == std::vector<std::uint8_t>(10, 1));  // no mask given: all kept
  CHECK(r.read_layer(0, 0, 5, ReadWhat{.gates = false, .router_probs = false, .kept = false}).kept.empty());
  std::vector<std::uint8_t> sliced;
  r.for_each_id_slice(0, 2, [&](const IdSlice& s) {
    REQUIRE(s.kept != nullptr);
    sliced.insert(sliced.end(), s.kept, s.kept + s.tokens * s.top_k);
  });
  CHECK(sliced == all.kept);
}

TEST_CASE("kept mask: loads count kept pairs only, and the drop rate is reported") {
  fs::path p = write_masked_trace("stats.h5");
  TraceReader r(p);
  auto stats = compute_stats(r, {});
  // Layer 0 kept pairs by expert: 0 → tokens 0 and 3; 1 → none; 2 → tokens 1, 3, 4; 3 → token 1.
  CHECK(stats.layers[0].loads == std::vector<std::uint64_t>{2, 0, 3, 1});
  // Column 0 (top-1): experts 0, 2, 3 (dropped), 2, 2.
  CHECK(stats.layers[0].top1_loads == std::vector<std::uint64_t>{1, 0, 3, 0});
  CHECK(stats.layers[0].kept_pairs == 6);
  CHECK(stats.layers[0].dropped_pairs == 4);
  CHECK(stats.layers[0].drop_rate() == doctest::Approx(0.4));
  CHECK(stats.layers[0].all.total == doctest::Approx(6));
  CHECK(stats.layers[1].loads == std::vector<std::uint64_t>{2, 4, 2, 2});
  CHECK(stats.layers[1].dropped_pairs == 0);
  CHECK(stats.drop_rate() == doctest::Approx(4.0 / 20.0));
  auto j = to_json(stats, r.header());
  CHECK(j["drop_rate"].get<double>() == doctest::Approx(0.2));
  CHECK(j["layers"][0]["dropped_pairs"].get<int>() == 4);
}

TEST_CASE("kept mask with more slots than the router's k (expert choice): drops count against the router's k") {
  // 3 tokens, 4 experts, 3 slots, router k = 2. Kept per token: 3 (no drop, no credit), 1 (1 dropped), 0 (2).
  fs::path p = moesim::testing::scratch_path("slots.h5");
  fs::remove(p);
  TraceHeader h;
  h.num_layers = 1, h.num_experts = 4, h.top_k = 3, h.router_top_k = 2, h.has_kept_mask = true;
  {
    TraceWriter w(p, h);
    std::vector<std::int32_t> seq = {0, 0, 0}, pos = {0, 1, 2}, ids = {0, 1, 2, 3, 0, 1, 2, 3, 0};
    std::vector<float> g = {0.5f, 0.3f, 0.2f, 1.0f, 0, 0, 0, 0, 0};
    std::vector<std::uint8_t> kept = {1, 1, 1, 1, 0, 0, 0, 0, 0};
    std::vector<LayerRouting> r = {{ids, g, {}, kept}};
    w.append_step({seq, pos, {}}, r);
    w.close();
  }
  {
    TraceReader r(p);
    CHECK(r.header().router_top_k == 2);
    auto stats = compute_stats(r, {});
    CHECK(stats.layers[0].loads == std::vector<std::uint64_t>{1, 1, 1, 1});
    CHECK(stats.layers[0].kept_pairs == 4);
    CHECK(stats.layers[0].router_pairs == 6);
    CHECK(stats.layers[0].dropped_pairs == 3);
    CHECK(stats.drop_rate() == doctest::Approx(0.5));
  }
  edit(p, [](H5::H5File& f) {
    std::int64_t four = 4;
    f.openAttribute("router_top_k").write(H5::PredType::NATIVE_INT64, &four);
  });
  CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("router_top_k 4 must be in 1..top_k (3)"), moesim::InputError);
}

TEST_CASE("a trace without a mask (format 1.0) reads as every pair kept") {
  fs::path p = write_masked_trace("v10.h5", /*mask=*/false);
  edit(p, [](H5::H5File& f) {  // what a 1.0 writer left: none of the 1.1 attributes
    f.removeAttr("version_minor");
    f.removeAttr("has_kept_mask");
    f.removeAttr("router_top_k");
  });
  TraceReader r(p);
  CHECK_FALSE(r.header().has_kept_mask);
  CHECK(r.header().version_minor == 0);
  CHECK(r.header().natural_top_k() == 2);
  CHECK(r.read_layer(0, 0, 5).kept.empty());
  auto stats = compute_stats(r, {0});
  CHECK(stats.layers[0].loads == std::vector<std::uint64_t>{3, 2, 3, 2});  // all 10 pairs
  CHECK(stats.drop_rate() == 0.0);
}

TEST_CASE("kept mask: the writer refuses masks it cannot store faithfully") {
  TraceHeader h;
  h.num_layers = 1, h.num_experts = 4, h.top_k = 2;
  std::vector<std::int32_t> seq = {0}, pos = {0}, ids = {0, 1};
  std::vector<float> g = {1.0f, 0.0f};
  std::vector<std::uint8_t> two = {1, 2}, short_mask = {1};
  SUBCASE("a value other than 0 or 1") {
    h.has_kept_mask = true;
    TraceWriter w(moesim::testing::scratch_path("w_value.h5"), h);
    std::vector<LayerRouting> r = {{ids, g, {}, two}};
    CHECK_THROWS_WITH_AS(w.append_step({seq, pos, {}}, r), doctest::Contains("must be 0 or 1"), std::invalid_argument);
  }
  SUBCASE("a wrong shape") {
    h.has_kept_mask = true;
    TraceWriter w(moesim::testing::scratch_path("w_shape.h5"), h);
    std::vector<LayerRouting> r = {{ids, g, {}, short_mask}};
    CHECK_THROWS_WITH_AS(w.append_step({seq, pos, {}}, r), doctest::Contains("kept mask shape"), std::invalid_argument);
  }
  SUBCASE("a mask the header does not announce") {
    TraceWriter w(moesim::testing::scratch_path("w_header.h5"), h);
    std::vector<std::uint8_t> ok = {1, 0};
    std::vector<LayerRouting> r = {{ids, g, {}, ok}};
    CHECK_THROWS_WITH_AS(w.append_step({seq, pos, {}}, r), doctest::Contains("needs header.has_kept_mask"),
                         std::invalid_argument);
  }
}

TEST_CASE("kept mask: the reader refuses a bad or inconsistent mask, naming the file") {
  SUBCASE("announced but missing") {
    fs::path p = write_masked_trace("missing.h5");
    edit(p, [](H5::H5File& f) { f.unlink("layers/1/kept"); });
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("missing.h5: missing dataset 'layers/1/kept'"),
                         moesim::InputError);
  }
  SUBCASE("present but not announced") {
    fs::path p = write_masked_trace("unannounced.h5");
    edit(p, [](H5::H5File& f) {
      std::int64_t zero = 0;
      f.openAttribute("has_kept_mask").write(H5::PredType::NATIVE_INT64, &zero);
    });
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("'layers/0/kept' exists but attribute 'has_kept_mask' is not 1"),
                         moesim::InputError);
  }
  SUBCASE("wrong shape") {
    fs::path p = write_masked_trace("shape.h5");
    edit(p, [](H5::H5File& f) {
      f.unlink("layers/0/kept");
      hsize_t dims[2] = {5, 3};
      f.createDataSet("layers/0/kept", H5::PredType::STD_U8LE, H5::DataSpace(2, dims));
    });
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("'layers/0/kept' has shape 5x3, expected 5x2"),
                         moesim::InputError);
  }
  SUBCASE("wrong type") {
    fs::path p = write_masked_trace("type.h5");
    edit(p, [](H5::H5File& f) {
      f.unlink("layers/0/kept");
      hsize_t dims[2] = {5, 2};
      std::vector<float> ones(10, 1.0f);
      f.createDataSet("layers/0/kept", H5::PredType::IEEE_F32LE, H5::DataSpace(2, dims))
          .write(ones.data(), H5::PredType::NATIVE_FLOAT);
    });
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("'layers/0/kept' must be uint8"), moesim::InputError);
  }
  SUBCASE("a value other than 0 or 1") {
    fs::path p = write_masked_trace("value.h5");
    edit(p, [](H5::H5File& f) {
      H5::DataSet ds = f.openDataSet("layers/0/kept");
      H5::DataSpace space = ds.getSpace();
      hsize_t start[2] = {3, 1}, count[2] = {1, 1};
      space.selectHyperslab(H5S_SELECT_SET, count, start);
      std::uint8_t seven = 7;
      ds.write(&seven, H5::PredType::NATIVE_UINT8, H5::DataSpace(2, count), space);
    });
    TraceReader r(p);
    CHECK_THROWS_WITH_AS(r.read_layer(0, 0, 5), doctest::Contains("layer 0 token 3 has kept value 7"), moesim::InputError);
    CHECK_THROWS_WITH_AS(compute_stats(r, {0}), doctest::Contains("value.h5"), moesim::InputError);
  }
  SUBCASE("truncated file") {
    fs::path good = write_masked_trace("to_truncate.h5");
    fs::path p = moesim::testing::scratch_path("truncated.h5");
    fs::copy_file(good, p, fs::copy_options::overwrite_existing);
    fs::resize_file(p, fs::file_size(p) * 2 / 3);
    CHECK_THROWS_AS(
        {
          TraceReader r(p);
          for (int l = 0; l < 2; ++l) (void)r.read_layer(l, 0, 5);
        },
        moesim::InputError);
  }
}
