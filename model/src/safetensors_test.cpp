// safetensors reader/writer: a round trip with hand-checked bytes, and one hand-built hostile file
// per validation rule, each of which must be refused with an InputError naming the file.
#include "moesim/model/safetensors.hpp"

#include "doctest_torch.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "moesim/common/error.hpp"
#include "moesim/testing/scratch.hpp"

namespace fs = std::filesystem;
using namespace moesim::model;

namespace {

using moesim::testing::scratch_dir;

// A file exactly as the bytes say: 8-byte little-endian header length, header text, data bytes.
fs::path write_raw(const std::string& name, const std::string& header, std::size_t data_bytes,
                   std::uint64_t claimed_header_bytes = 0) {
  fs::path path = scratch_dir() / name;
  std::ofstream f(path, std::ios::binary);
  std::uint64_t n = claimed_header_bytes ? claimed_header_bytes : header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header;
  for (std::size_t i = 0; i < data_bytes; ++i) f.put(static_cast<char>(i));
  return path;
}

std::string error_of(const fs::path& path) {
  try {
    SafetensorsFile file(path);
  } catch (const moesim::InputError& e) {
    return e.what();
  }
  return "";
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

}  // namespace

TEST_CASE("safetensors: written tensors read back with their dtype, shape and bytes") {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -8.5f};
  std::vector<std::uint16_t> b = {0x3f80, 0xc000};  // bf16 1.0, -2.0
  std::vector<std::int64_t> c = {42};
  fs::path path = scratch_dir() / "roundtrip.safetensors";
  write_safetensors(path, {{"w.a", DType::kF32, {2, 3}, bytes_of(a)},
                           {"w.b", DType::kBF16, {2}, bytes_of(b)},
                           {"c", DType::kI64, {1}, bytes_of(c)}});
  // 8-byte alignment of the data section is part of what we promise writers downstream.
  std::ifstream raw(path, std::ios::binary);
  unsigned char len[8];
  raw.read(reinterpret_cast<char*>(len), 8);
  CHECK(len[0] % 8 == 0);

  SafetensorsFile file(path);
  REQUIRE(file.tensors().size() == 3);
  CHECK(file.metadata().at("format") == "pt");
  const TensorView* ta = file.find("w.a");
  REQUIRE(ta);
  CHECK(ta->dtype == DType::kF32);
  CHECK(ta->shape == std::vector<std::int64_t>{2, 3});
  REQUIRE(ta->bytes.size() == 24);
  float back[6];
  std::memcpy(back, ta->bytes.data(), 24);
  CHECK(back[2] == 3.25f);
  CHECK(back[5] == -8.5f);
  const TensorView* tb = file.find("w.b");
  REQUIRE(tb);
  CHECK(tb->dtype == DType::kBF16);
  std::uint16_t b1;
  std::memcpy(&b1, tb->bytes.data() + 2, 2);
  CHECK(b1 == 0xc000);
  CHECK(file.find("missing") == nullptr);
}

TEST_CASE("safetensors: hostile headers are refused with one line naming the file") {
  SUBCASE("too short for the length field") {
    fs::path p = scratch_dir() / "short.safetensors";
    std::ofstream(p) << "abc";
    CHECK(error_of(p).find("too short") != std::string::npos);
  }
  SUBCASE("absurd header length") {
    auto p = write_raw("absurd.safetensors", "{}", 0, 1ull << 40);
    std::string e = error_of(p);
    CHECK(e.find("absurd.safetensors") != std::string::npos);
    CHECK(e.find("header length 1099511627776 is absurd") != std::string::npos);
  }
  SUBCASE("header is not JSON") {
    auto p = write_raw("notjson.safetensors", "{\"a\": [", 0);
    CHECK(error_of(p).find("not valid JSON") != std::string::npos);
  }
  SUBCASE("offsets beyond the file") {
    auto p = write_raw("beyond.safetensors", R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
    CHECK(error_of(p).find("go beyond the file's 8 data bytes") != std::string::npos);
  }
  SUBCASE("shape x dtype disagrees with the byte range") {
    auto p = write_raw("mismatch.safetensors", R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
    CHECK(error_of(p).find("needs 12 bytes but data_offsets [0, 8] hold 8") != std::string::npos);
  }
  SUBCASE("shape whose element count overflows") {
    auto p = write_raw("overflow.safetensors",
                       R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8);
    CHECK(error_of(p).find("needs") != std::string::npos);
  }
  SUBCASE("overlapping tensors") {
    auto p = write_raw("overlap.safetensors",
                       R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       12);
    CHECK(error_of(p).find("'x' [0, 8] and 'y' [4, 12] overlap") != std::string::npos);
  }
  SUBCASE("unknown dtype") {
    auto p = write_raw("dtype.safetensors", R"({"x":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}})", 2);
    CHECK(error_of(p).find("unsupported dtype \"F8_E5M2\"") != std::string::npos);
  }
  SUBCASE("negative dimension") {
    auto p = write_raw("neg.safetensors", R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
    CHECK(error_of(p).find("negative dimension") != std::string::npos);
  }
  SUBCASE("missing data_offsets") {
    auto p = write_raw("nooffsets.safetensors", R"({"x":{"dtype":"F32","shape":[1]}})", 4);
    CHECK(error_of(p).find("has no 'data_offsets'") != std::string::npos);
  }
}

// Lines of /proc/self/maps: the process's memory mappings.
static std::size_t mappings() {
  std::ifstream maps("/proc/self/maps");
  std::size_t lines = 0;
  for (std::string line; std::getline(maps, line);) ++lines;
  return lines;
}

TEST_CASE("safetensors: a refused file leaves no mapping behind") {
  // Mapped, then refused by the header checks. The constructor mapped each such file and threw
  // before owning it, so 100 refusals left 100 mappings (found by fuzzing: 65,530 of them, the
  // kernel's limit, and the next mmap failed).
  const fs::path p = write_raw("mapped_then_refused.safetensors", "{\"a\": [", 16);
  REQUIRE(error_of(p).find("not valid JSON") != std::string::npos);
  const std::size_t before = mappings();
  for (int i = 0; i < 100; ++i) (void)error_of(p);
  CHECK(mappings() < before + 10);  // 10: room for the allocator's own maps, far below 100
}

TEST_CASE("safetensors: sharded checkpoints resolve names through the index, and a bad index is refused") {
  fs::path dir = scratch_dir() / "sharded";
  fs::create_directories(dir);
  std::vector<float> a = {1, 2}, b = {3, 4, 5};
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", DType::kF32, {2}, bytes_of(a)}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", DType::kF32, {3}, bytes_of(b)}});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
  Checkpoint ckpt(dir);
  CHECK(ckpt.names() == std::vector<std::string>{"a", "b"});
  REQUIRE(ckpt.find("b"));
  CHECK(ckpt.find("b")->shape == std::vector<std::int64_t>{3});

  auto index_error = [&](const std::string& text) {
    std::ofstream(dir / "model.safetensors.index.json") << text;
    try {
      Checkpoint bad(dir);
    } catch (const moesim::InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(index_error(R"({"weight_map":{"a":"../../etc/passwd"}})").find("not a file name inside") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{"a":"nope.safetensors"}})").find("shard 'nope.safetensors'") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{"c":"model-00001-of-00002.safetensors"}})").find("has no tensor 'c'") !=
        std::string::npos);
  CHECK(index_error(R"({"no_map":1})").find("has no \"weight_map\"") != std::string::npos);
  // A shard name longer than the file system allows (NAME_MAX, 255 bytes): found by fuzzing, it
  // escaped as std::filesystem::filesystem_error (exit 1).
  const std::string long_name(300, 'x');
  CHECK(index_error(R"({"weight_map":{"a":")" + long_name + R"("}})").find("weight_map['a'] = 'xxx") != std::string::npos);
  fs::remove(dir / "model.safetensors.index.json");
  CHECK_THROWS_AS(Checkpoint{dir}, moesim::InputError);  // neither index nor model.safetensors
}
