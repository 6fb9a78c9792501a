#include "dataplane/core/units.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace jsontcplb {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

// --- parse_duration -------------------------------------------------------------------------

TEST(ParseDurationTest, Milliseconds) { EXPECT_EQ(parse_duration("300ms"), nanoseconds(300ms)); }

TEST(ParseDurationTest, FractionalSeconds) {
  EXPECT_EQ(parse_duration("1.5s"), nanoseconds(1500ms));
  EXPECT_EQ(parse_duration("0.25s"), nanoseconds(250ms));
}

TEST(ParseDurationTest, Minutes) { EXPECT_EQ(parse_duration("5m"), nanoseconds(5min)); }

TEST(ParseDurationTest, Hours) { EXPECT_EQ(parse_duration("2h"), nanoseconds(2h)); }

TEST(ParseDurationTest, CompoundDurations) {
  EXPECT_EQ(parse_duration("1h30m"), nanoseconds(90min));
  EXPECT_EQ(parse_duration("1m30s"), nanoseconds(90s));
  EXPECT_EQ(parse_duration("1h2m3s"), nanoseconds(3723s));
  EXPECT_EQ(parse_duration("1s500ms"), nanoseconds(1500ms));
}

TEST(ParseDurationTest, SmallUnits) {
  EXPECT_EQ(parse_duration("250us"), nanoseconds(250us));
  EXPECT_EQ(parse_duration("10ns"), nanoseconds(10));
}

TEST(ParseDurationTest, Zero) {
  EXPECT_EQ(parse_duration("0"), nanoseconds(0));
  EXPECT_EQ(parse_duration("0s"), nanoseconds(0));
  EXPECT_EQ(parse_duration("0ms"), nanoseconds(0));
}

TEST(ParseDurationTest, RejectsEmpty) { EXPECT_EQ(parse_duration(""), std::nullopt); }

TEST(ParseDurationTest, RejectsNumberWithoutUnit) {
  EXPECT_EQ(parse_duration("5"), std::nullopt);
  EXPECT_EQ(parse_duration("300"), std::nullopt);
  EXPECT_EQ(parse_duration("1h30"), std::nullopt);
}

TEST(ParseDurationTest, RejectsUnknownUnit) {
  EXPECT_EQ(parse_duration("1x"), std::nullopt);
  EXPECT_EQ(parse_duration("5sec"), std::nullopt);
  EXPECT_EQ(parse_duration("1d"), std::nullopt);
}

TEST(ParseDurationTest, RejectsUnitWithoutNumber) {
  EXPECT_EQ(parse_duration("m"), std::nullopt);
  EXPECT_EQ(parse_duration("ms"), std::nullopt);
  EXPECT_EQ(parse_duration("1hm"), std::nullopt);
}

TEST(ParseDurationTest, RejectsGarbage) {
  EXPECT_EQ(parse_duration("five minutes"), std::nullopt);
  EXPECT_EQ(parse_duration("5m!"), std::nullopt);
}

// --- format_duration ------------------------------------------------------------------------

TEST(FormatDurationTest, Zero) { EXPECT_EQ(format_duration(0s), "0s"); }

TEST(FormatDurationTest, BelowOneSecondInMilliseconds) {
  EXPECT_EQ(format_duration(300ms), "300ms");
  EXPECT_EQ(format_duration(1ms), "1ms");
}

TEST(FormatDurationTest, Seconds) {
  EXPECT_EQ(format_duration(30s), "30s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
}

TEST(FormatDurationTest, DropsZeroTrailingParts) {
  EXPECT_EQ(format_duration(5min), "5m");
  EXPECT_EQ(format_duration(1h), "1h");
  EXPECT_EQ(format_duration(90min), "1h30m");
}

TEST(FormatDurationTest, AllParts) {
  EXPECT_EQ(format_duration(3723s), "1h2m3s");
  EXPECT_EQ(format_duration(150s), "2m30s");
  EXPECT_EQ(format_duration(61500ms), "1m1.5s");
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  for (nanoseconds d : {nanoseconds(0), nanoseconds(1ms), nanoseconds(300ms), nanoseconds(1500ms),
                        nanoseconds(59s), nanoseconds(60s), nanoseconds(5min), nanoseconds(90min),
                        nanoseconds(3723s), nanoseconds(25h), nanoseconds(61500ms)}) {
    std::string text = format_duration(d);
    EXPECT_EQ(parse_duration(text), d) << text;
  }
}

// --- parse_bytes ----------------------------------------------------------------------------

TEST(ParseBytesTest, PlainNumber) {
  EXPECT_EQ(parse_bytes("16384"), 16384u);
  EXPECT_EQ(parse_bytes("0"), 0u);
  EXPECT_EQ(parse_bytes("1"), 1u);
}

TEST(ParseBytesTest, BinarySuffixes) {
  EXPECT_EQ(parse_bytes("16KiB"), 16u * 1024);
  EXPECT_EQ(parse_bytes("64MiB"), 64u * 1024 * 1024);
  EXPECT_EQ(parse_bytes("1GiB"), std::uint64_t{1} << 30);
}

TEST(ParseBytesTest, ShortAndDecimalLookingSuffixesAreBinary) {
  EXPECT_EQ(parse_bytes("1G"), std::uint64_t{1} << 30);
  EXPECT_EQ(parse_bytes("2K"), 2048u);
  EXPECT_EQ(parse_bytes("2KB"), 2048u);
  EXPECT_EQ(parse_bytes("3M"), 3u << 20);
  EXPECT_EQ(parse_bytes("3MB"), 3u << 20);
  EXPECT_EQ(parse_bytes("4GB"), std::uint64_t{4} << 30);
}

TEST(ParseBytesTest, LargeValuesDoNotTruncate) {
  EXPECT_EQ(parse_bytes("8GiB"), std::uint64_t{8} << 30);
  EXPECT_EQ(parse_bytes("18446744073709551615"), UINT64_MAX);
}

TEST(ParseBytesTest, RejectsEmpty) { EXPECT_EQ(parse_bytes(""), std::nullopt); }

TEST(ParseBytesTest, RejectsNonNumbers) {
  EXPECT_EQ(parse_bytes("x"), std::nullopt);
  EXPECT_EQ(parse_bytes("KiB"), std::nullopt);
}

TEST(ParseBytesTest, RejectsUnknownSuffix) {
  EXPECT_EQ(parse_bytes("12Q"), std::nullopt);
  EXPECT_EQ(parse_bytes("12KiBx"), std::nullopt);
}

TEST(ParseBytesTest, RejectsNegative) {
  EXPECT_EQ(parse_bytes("-1"), std::nullopt);
  EXPECT_EQ(parse_bytes("-1KiB"), std::nullopt);
}

TEST(ParseBytesTest, RejectsOverflow) {
  EXPECT_EQ(parse_bytes("18446744073709551616"), std::nullopt);  // 2^64
  EXPECT_EQ(parse_bytes("17179869184GiB"), std::nullopt);        // 2^34 GiB = 2^64
}

// --- format_bytes ---------------------------------------------------------------------------

TEST(FormatBytesTest, ExactMultiplesUseTheLargestUnit) {
  EXPECT_EQ(format_bytes(16384), "16KiB");
  EXPECT_EQ(format_bytes(64u << 20), "64MiB");
  EXPECT_EQ(format_bytes(std::uint64_t{1} << 30), "1GiB");
  EXPECT_EQ(format_bytes(std::uint64_t{3} << 30), "3GiB");
  EXPECT_EQ(format_bytes(1024), "1KiB");
  EXPECT_EQ(format_bytes(1536u << 10), "1536KiB");
}

TEST(FormatBytesTest, InexactValuesArePlainNumbers) {
  EXPECT_EQ(format_bytes(0), "0");
  EXPECT_EQ(format_bytes(1000), "1000");
  EXPECT_EQ(format_bytes(1025), "1025");
  EXPECT_EQ(format_bytes(1536), "1536");
}

TEST(FormatBytesTest, RoundTripsThroughParse) {
  for (std::uint64_t b :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}, std::uint64_t{16384},
        std::uint64_t{1} << 20, std::uint64_t{1536} << 10, std::uint64_t{5} << 30, UINT64_MAX}) {
    EXPECT_EQ(parse_bytes(format_bytes(b)), b) << format_bytes(b);
  }
}

}  // namespace
}  // namespace jsontcplb
