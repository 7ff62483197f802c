#include <doctest/doctest.h>

#include "moesim/topologies/units.hpp"

using namespace moesim::topologies;

TEST_CASE("bandwidth units: bits, bytes, slash forms and binary prefixes") {
  CHECK(parse_bandwidth_Bps("400Gbps") == doctest::Approx(50e9));
  CHECK(parse_bandwidth_Bps("450GBps") == doctest::Approx(450e9));
  CHECK(parse_bandwidth_Bps("25GB/s") == doctest::Approx(25e9));
  CHECK(parse_bandwidth_Bps("1GiB/s") == doctest::Approx(1073741824.0));
  CHECK(parse_bandwidth_Bps("12.5e9Bps") == doctest::Approx(12.5e9));
}

TEST_CASE("latency and size units") {
  CHECK(parse_latency_s("1us") == doctest::Approx(1e-6));
  CHECK(parse_latency_s("500ns") == doctest::Approx(5e-7));
  CHECK(parse_latency_s("2ms") == doctest::Approx(2e-3));
  CHECK(parse_size_bytes("8KiB") == 8192);
  CHECK(parse_size_bytes("1MB") == 1e6);
}

TEST_CASE("bare numbers and unknown units are rejected with the reason") {
  CHECK_THROWS_WITH_AS(parse_bandwidth_Bps("400"), "'400' has no unit (write e.g. 400Gbps or 50GBps)", UnitError);
  CHECK_THROWS_WITH_AS(parse_latency_s("5"), "'5' has no unit (write e.g. 1us or 500ns)", UnitError);
  CHECK_THROWS_WITH_AS(parse_bandwidth_Bps("400Gbit"),
                       doctest::Contains("unknown bandwidth unit 'Gbit' in '400Gbit'"), UnitError);
  CHECK_THROWS_WITH_AS(parse_size_bytes("KiB"), "'KiB' is not a size (write e.g. 8KiB or 1MB)", UnitError);
  CHECK_THROWS_AS(parse_latency_s("1usec"), UnitError);
}

// Regression: "100 GB/s" was called an unknown unit ' GB/s' although GB/s is in the printed list.
TEST_CASE("a blank between number and unit is accepted; a product that overflows is not finite") {
  CHECK(parse_bandwidth_Bps("100 GB/s") == 100e9);
  CHECK(parse_bandwidth_Bps(" 400\tGbps ") == 50e9);
  CHECK(parse_latency_s("1 us") == doctest::Approx(1e-6));
  CHECK_THROWS_WITH_AS(parse_bandwidth_Bps("1e308 TBps"), "'1e308 TBps' is not finite", UnitError);
  CHECK_THROWS_WITH_AS(parse_bandwidth_Bps("100 GB/sec"), doctest::Contains("unknown bandwidth unit 'GB/sec'"), UnitError);
}
