#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"

namespace fs = std::filesystem;

TEST_CASE("located() formats file:line:col and leaves out unknown positions") {
  CHECK(moesim::located("a.yaml", 3, 7, "bad") == "a.yaml:3:7: bad");
  CHECK(moesim::located("a.yaml", 0, 0, "bad") == "a.yaml: bad");
}

TEST_CASE("an uncommitted AtomicOutput leaves neither the final file nor its temporary") {
  fs::path dir = fs::temp_directory_path() / "moesim_atomic_test";
  fs::remove_all(dir);
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
