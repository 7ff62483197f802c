#include <doctest/doctest.h>
#include <H5Cpp.h>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "moesim/common/error.hpp"
#include "moesim/traces/trace_reader.hpp"
#include "moesim/traces/trace_stats.hpp"
#include "moesim/traces/trace_writer.hpp"
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;
using namespace moesim::traces;

namespace {

TraceHeader small_header() {
  TraceHeader h;
  h.model = "hand";
  h.architecture = "synthetic";
  h.num_layers = 2;
  h.num_experts = 4;
  h.top_k = 2;
  h.hidden_size = 16;
  h.model_layers = {1, 3};
  h.has_token_ids = true;
  h.has_router_probs = true;
  return h;
}

// Two steps (3 tokens, then 2), two layers, every value chosen by hand.
fs::path write_small_trace(const std::string& name) {
  fs::path p = moesim::testing::scratch_path(name);
  fs::remove(p);
  TraceWriter w(p, small_header(), WriterOptions{.chunk_tokens = 2});
  std::vector<std::int32_t> seq = {0, 0, 1}, pos = {0, 1, 0}, tok = {11, 12, 13};
  std::vector<std::int32_t> ids0 = {0, 1, 2, 3, 3, 0}, ids1 = {1, 0, 1, 2, 1, 3};
  std::vector<float> g = {0.6f, 0.4f, 0.7f, 0.3f, 0.5f, 0.5f};
  std::vector<float> probs(3 * 4, 0.25f);
  std::vector<LayerRouting> r = {{ids0, g, probs, {}}, {ids1, g, probs, {}}};
  w.append_step({seq, pos, tok}, r);
  std::vector<std::int32_t> seq2 = {1, 1}, pos2 = {1, 2}, tok2 = {14, 15};
  std::vector<std::int32_t> ids2 = {2, 0, 2, 1}, ids3 = {3, 2, 0, 1};
  std::vector<float> g2 = {0.9f, 0.1f, 0.8f, 0.2f};
  std::vector<float> probs2(2 * 4, 0.25f);
  std::vector<LayerRouting> r2 = {{ids2, g2, probs2, {}}, {ids3, g2, probs2, {}}};
  w.append_step({seq2, pos2, tok2}, r2);
  CHECK_FALSE(fs::exists(p));  // not visible under its name until closed
  w.close();
  return p;
}

}  // namespace

TEST_CASE("a written trace reads back exactly: header, steps, ids, gates, tokens") {
  fs::path p = write_small_trace("roundtrip.h5");
  TraceReader r(p);
  const auto& h = r.header();
  CHECK(h.num_tokens == 5);
  CHECK(h.num_steps == 2);
  CHECK(h.model_layers == std::vector<int>{1, 3});
  CHECK(r.step_offsets() == std::vector<std::uint64_t>{0, 3, 5});
  CHECK(r.id_width_bytes() == 1);
  auto b = r.read_step(1, 1);
  CHECK(b.begin == 3);
  CHECK(b.expert_ids == std::vector<std::int32_t>{3, 2, 0, 1});
  CHECK(b.gates == std::vector<float>{0.9f, 0.1f, 0.8f, 0.2f});
  auto all = r.read_layer(0, 0, 5, ReadWhat{.gates = false, .router_probs = true});
  CHECK(all.expert_ids == std::vector<std::int32_t>{0, 1, 2, 3, 3, 0, 2, 0, 2, 1});
  CHECK(all.gates.empty());
  CHECK(all.router_probs.size() == 20);
  auto t = r.read_tokens(1, 4);
  CHECK(t.sequence_id == std::vector<std::int32_t>{0, 1, 1});
  CHECK(t.token_id == std::vector<std::int32_t>{12, 13, 14});
  std::uint64_t seen = 0;
  r.for_each_id_slice(0, 2, [&](const IdSlice& s) { seen += s.tokens; });
  CHECK(seen == 5);
}

TEST_CASE("a block read into again holds the new read only: other sizes, and nothing left of what is not asked") {
  fs::path p = write_small_trace("read_into.h5");
  TraceReader r(p);
  LayerBlock b;
  r.read_step_into(0, 0, ReadWhat{.gates = true, .router_probs = true}, b);  // 3 tokens, gates and probabilities
  CHECK(b.expert_ids == std::vector<std::int32_t>{0, 1, 2, 3, 3, 0});
  CHECK(b.router_probs.size() == 12);
  r.read_step_into(1, 1, ReadWhat{.gates = false, .router_probs = false}, b);  // 2 tokens, ids only
  CHECK(b.layer == 1);
  CHECK(b.begin == 3);
  CHECK(b.tokens() == 2);
  CHECK(b.expert_ids == std::vector<std::int32_t>{3, 2, 0, 1});
  CHECK(b.gates.empty());
  CHECK(b.router_probs.empty());
  r.read_step_into(1, 0, ReadWhat{.gates = true}, b);  // larger again
  CHECK(b.expert_ids == std::vector<std::int32_t>{1, 0, 1, 2, 1, 3});
  CHECK(b.gates == std::vector<float>{0.6f, 0.4f, 0.7f, 0.3f, 0.5f, 0.5f});
  CHECK_THROWS_AS(r.read_step_into(0, 2, {}, b), moesim::InputError);
}

TEST_CASE("a step written in parts reads back as the same step") {
  // The first step of write_small_trace, its 3 tokens written as 2 + 1 (trace synth writes large
  // steps in slices): the same offsets and rows as one append_step.
  fs::path p = moesim::testing::scratch_path("parts.h5");
  fs::remove(p);
  TraceWriter w(p, small_header(), WriterOptions{.chunk_tokens = 2});
  std::vector<std::int32_t> seq_a = {0, 0}, pos_a = {0, 1}, tok_a = {11, 12}, seq_b = {1}, pos_b = {0}, tok_b = {13};
  std::vector<std::int32_t> ids0_a = {0, 1, 2, 3}, ids1_a = {1, 0, 1, 2}, ids0_b = {3, 0}, ids1_b = {1, 3};
  std::vector<float> g_a = {0.6f, 0.4f, 0.7f, 0.3f}, g_b = {0.5f, 0.5f}, probs_a(2 * 4, 0.25f), probs_b(4, 0.25f);
  std::vector<LayerRouting> ra = {{ids0_a, g_a, probs_a, {}}, {ids1_a, g_a, probs_a, {}}};
  std::vector<LayerRouting> rb = {{ids0_b, g_b, probs_b, {}}, {ids1_b, g_b, probs_b, {}}};
  w.append_step_part({seq_a, pos_a, tok_a}, ra);
  w.append_step_part({seq_b, pos_b, tok_b}, rb);
  w.end_step();
  w.close();
  TraceReader r(p);
  CHECK(r.header().num_steps == 1);
  CHECK(r.step_offsets() == std::vector<std::uint64_t>{0, 3});
  auto b = r.read_step(1, 0);
  CHECK(b.expert_ids == std::vector<std::int32_t>{1, 0, 1, 2, 1, 3});
  CHECK(b.gates == std::vector<float>{0.6f, 0.4f, 0.7f, 0.3f, 0.5f, 0.5f});
  CHECK(r.read_tokens(0, 3).token_id == std::vector<std::int32_t>{11, 12, 13});
}

namespace {
std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
}  // namespace

// Regression: close() renamed the file while its datasets were still open, so HDF5
// wrote chunks and metadata into the renamed file later, when the writer was destroyed; a kill in
// between replaced a good trace with a corrupt one. Once close() returns, the file under the
// final name must be complete and never written again.
TEST_CASE("after close() the trace is complete: destroying the writer writes nothing more") {
  fs::path p = moesim::testing::scratch_path("complete_at_close.h5");
  fs::path snapshot = moesim::testing::scratch_path("complete_at_close_snapshot.h5");
  fs::remove(p);
  fs::remove(snapshot);
  std::string at_close;
  {
    TraceWriter w(p, small_header(), WriterOptions{.chunk_tokens = 2});
    std::vector<std::int32_t> seq = {0, 0, 1}, pos = {0, 1, 0}, tok = {11, 12, 13};
    std::vector<std::int32_t> ids = {0, 1, 2, 3, 3, 0};
    std::vector<float> g = {0.6f, 0.4f, 0.7f, 0.3f, 0.5f, 0.5f};
    std::vector<float> probs(3 * 4, 0.25f);
    std::vector<LayerRouting> r = {{ids, g, probs, {}}, {ids, g, probs, {}}};
    w.append_step({seq, pos, tok}, r);
    w.close();
    at_close = file_bytes(p);
    fs::copy_file(p, snapshot);  // what a kill right after the rename would leave
  }
  CHECK(file_bytes(p) == at_close);
  TraceReader r(snapshot);
  CHECK(r.header().num_tokens == 3);
  CHECK(r.read_step(1, 0).expert_ids == std::vector<std::int32_t>{0, 1, 2, 3, 3, 0});
}

TEST_CASE("writer refuses an expert id outside the declared experts") {
  TraceWriter w(moesim::testing::scratch_path("bad_id.h5"), small_header());
  std::vector<std::int32_t> seq = {0}, pos = {0}, tok = {1}, ids = {0, 4};
  std::vector<float> g = {0.5f, 0.5f}, probs(4, 0.25f);
  std::vector<LayerRouting> r = {{ids, g, probs, {}}, {ids, g, probs, {}}};
  CHECK_THROWS_WITH_AS(w.append_step({seq, pos, tok}, r), doctest::Contains("expert id 4 outside 0..3"),
                       std::invalid_argument);
}

TEST_CASE("reader errors name the file and the problem") {
  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(TraceReader{moesim::testing::scratch_path("absent.h5")}, doctest::Contains("absent.h5: no such file"),
                         moesim::InputError);
  }
  SUBCASE("not HDF5") {
    fs::path p = moesim::testing::scratch_path("text.h5");
    std::ofstream(p) << "hello, not a trace";
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("text.h5: not an HDF5 file"), moesim::InputError);
  }
  SUBCASE("truncated file") {
    fs::path good = write_small_trace("to_truncate.h5");
    fs::path p = moesim::testing::scratch_path("truncated.h5");
    fs::copy_file(good, p, fs::copy_options::overwrite_existing);
    fs::resize_file(p, fs::file_size(p) / 2);
    CHECK_THROWS_AS(TraceReader{p}, moesim::InputError);
  }
  SUBCASE("wrong version") {
    fs::path p = write_small_trace("v2.h5");
    {
      H5::H5File f(p.string(), H5F_ACC_RDWR);
      std::int64_t v = 2;
      f.openAttribute("version").write(H5::PredType::NATIVE_INT64, &v);
    }
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("trace format version 2"), moesim::InputError);
  }
  SUBCASE("missing dataset") {
    fs::path p = write_small_trace("nogates.h5");
    {
      H5::H5File f(p.string(), H5F_ACC_RDWR);
      f.unlink("layers/1/gate_weights");
    }
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("missing dataset 'layers/1/gate_weights'"),
                         moesim::InputError);
  }
  SUBCASE("more layers declared than stored: the missing group is named, not 'H5Lexists failed'") {
    fs::path p = write_small_trace("three_layers.h5");
    {
      H5::H5File f(p.string(), H5F_ACC_RDWR);
      std::int64_t n = 3;
      f.openAttribute("num_layers").write(H5::PredType::NATIVE_INT64, &n);
    }
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("three_layers.h5: missing dataset 'layers/2/expert_ids'"),
                         moesim::InputError);
  }
  SUBCASE("a dataset created but never written is refused (HDF5 would return fill values: expert 0, gate 0)") {
    for (auto [name, type] : {std::pair{"layers/0/expert_ids", H5::PredType::STD_U8LE},
                              std::pair{"layers/0/gate_weights", H5::PredType::NATIVE_FLOAT}}) {
      fs::path p = write_small_trace("unwritten.h5");
      {
        H5::H5File f(p.string(), H5F_ACC_RDWR);
        f.unlink(name);
        hsize_t dims[2] = {5, 2}, chunk[2] = {2, 2};
        H5::DSetCreatPropList props;
        props.setChunk(2, chunk);
        f.createDataSet(name, type, H5::DataSpace(2, dims), props);
      }
      const std::string message = fmt::format("'{}' was never completely written", name);
      CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains(message.c_str()), moesim::InputError);
    }
  }
  SUBCASE("a token listing one expert twice") {
    fs::path p = write_small_trace("duplicate.h5");
    {
      H5::H5File f(p.string(), H5F_ACC_RDWR);
      std::uint8_t same[2] = {3, 3};
      H5::DataSet ds = f.openDataSet("layers/1/expert_ids");
      H5::DataSpace fs_ = ds.getSpace();
      hsize_t start[2] = {4, 0}, count[2] = {1, 2};
      fs_.selectHyperslab(H5S_SELECT_SET, count, start);
      ds.write(same, H5::PredType::NATIVE_UINT8, H5::DataSpace(2, count), fs_);
    }
    TraceReader r(p);
    CHECK_THROWS_WITH_AS(r.read_layer(1, 0, 5), doctest::Contains("layer 1 token 4 lists expert 3 twice"),
                         moesim::InputError);
    // Regression: `trace stats` (the id-slice path) counted expert 3 twice where replay refused the file.
    CHECK_THROWS_WITH_AS(compute_stats(r, {}), doctest::Contains("layer 1 token 4 lists expert 3 twice"),
                         moesim::InputError);
    CHECK_THROWS_WITH_AS(r.for_each_id_slice(1, 2, [](const IdSlice&) {}),
                         doctest::Contains("layer 1 token 4 lists expert 3 twice"), moesim::InputError);
    // A whole pass over a layer's ids lets later reads of it skip the checks; a pass that failed must not.
    CHECK_THROWS_WITH_AS(r.read_layer(1, 0, 5), doctest::Contains("layer 1 token 4 lists expert 3 twice"),
                         moesim::InputError);
    r.for_each_id_slice(0, 2, [](const IdSlice&) {});  // layer 0 is valid
    CHECK(r.read_layer(0, 0, 5).expert_ids.size() == 10);
  }
  SUBCASE("an expert id beyond the header's experts") {
    fs::path p = write_small_trace("id_out_of_range.h5");
    {
      H5::H5File f(p.string(), H5F_ACC_RDWR);
      std::uint8_t beyond[1] = {250};  // the header declares 4 experts
      H5::DataSet ds = f.openDataSet("layers/0/expert_ids");
      H5::DataSpace fs_ = ds.getSpace();
      hsize_t start[2] = {2, 1}, count[2] = {1, 1};
      fs_.selectHyperslab(H5S_SELECT_SET, count, start);
      ds.write(beyond, H5::PredType::NATIVE_UINT8, H5::DataSpace(2, count), fs_);
    }
    TraceReader r(p);
    const char* message = "layer 0 holds expert id 250 but the trace declares 4 experts";
    CHECK_THROWS_WITH_AS(r.read_layer(0, 0, 5), doctest::Contains(message), moesim::InputError);
    CHECK_THROWS_WITH_AS(r.for_each_id_slice(0, 2, [](const IdSlice&) {}), doctest::Contains(message),
                         moesim::InputError);
    CHECK(r.read_layer(1, 0, 5).expert_ids.size() == 10);  // the other layer is fine
  }
  SUBCASE("NaN and negative gate weights (accepted once)") {
    for (float bad : {std::nanf(""), -0.25f, INFINITY}) {
      fs::path p = write_small_trace("bad_gate.h5");
      {
        H5::H5File f(p.string(), H5F_ACC_RDWR);
        H5::DataSet ds = f.openDataSet("layers/0/gate_weights");
        H5::DataSpace fs_ = ds.getSpace();
        hsize_t start[2] = {2, 1}, count[2] = {1, 1};
        fs_.selectHyperslab(H5S_SELECT_SET, count, start);
        ds.write(&bad, H5::PredType::NATIVE_FLOAT, H5::DataSpace(2, count), fs_);
      }
      TraceReader r(p);
      CHECK_THROWS_WITH_AS(r.read_layer(0, 0, 5), doctest::Contains("layer 0 token 2 has gate weight"), moesim::InputError);
      CHECK(r.read_layer(0, 0, 5, ReadWhat{.gates = false}).expert_ids.size() == 10);  // ids alone still read
    }
  }
  SUBCASE("hidden_size outside 0..2^24 (once: -16 and 2^62 both became 'hidden_size is 0')") {
    for (std::int64_t bad : {std::int64_t{-16}, std::int64_t{1} << 62}) {
      fs::path p = write_small_trace("bad_hidden.h5");
      {
        H5::H5File f(p.string(), H5F_ACC_RDWR);
        f.openAttribute("hidden_size").write(H5::PredType::NATIVE_INT64, &bad);
      }
      const std::string message = fmt::format("attribute 'hidden_size' = {} is out of range", bad);
      CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains(message.c_str()), moesim::InputError);
    }
  }
  SUBCASE("a 1-D or 3-D dataset names its rank (once reported as shape 0x0)") {
    fs::path p = write_small_trace("rank.h5");
    {
      H5::H5File f(p.string(), H5F_ACC_RDWR);
      f.unlink("layers/0/gate_weights");
      hsize_t dims[3] = {5, 2, 1};
      f.createDataSet("layers/0/gate_weights", H5::PredType::NATIVE_FLOAT, H5::DataSpace(3, dims));
    }
    CHECK_THROWS_WITH_AS(TraceReader{p},
                         doctest::Contains("dataset 'layers/0/gate_weights' has 3 dimensions, expected 2 (5x2: tokens x width)"),
                         moesim::InputError);
  }
  SUBCASE("inconsistent shapes") {
    fs::path p = write_small_trace("shape.h5");
    {
      H5::H5File f(p.string(), H5F_ACC_RDWR);
      std::int64_t t = 6;
      f.openAttribute("num_tokens").write(H5::PredType::NATIVE_INT64, &t);
    }
    CHECK_THROWS_WITH_AS(TraceReader{p}, doctest::Contains("shape.h5"), moesim::InputError);
  }
}
