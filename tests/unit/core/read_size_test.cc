#include "dataplane/core/read_size.h"

#include <gtest/gtest.h>

namespace jsontcplb {
namespace {

constexpr std::size_t KiB = 1024;

TEST(ReadSizeTest, FewClientsReadTheLargestSize) {
  for (std::size_t sessions : {0u, 1u, 2u, 4u}) {
    EXPECT_EQ(read_size(256 * KiB, sessions), 256 * KiB) << sessions;
  }
}

TEST(ReadSizeTest, ManyClientsShareTheBudgetDownToTheSmallestRead) {
  EXPECT_EQ(read_size(256 * KiB, 5), 128 * KiB);  // 1 MiB / 5 = 204 KiB, rounded down to 2^n
  EXPECT_EQ(read_size(256 * KiB, 8), 128 * KiB);
  EXPECT_EQ(read_size(256 * KiB, 9), 64 * KiB);
  EXPECT_EQ(read_size(256 * KiB, 16), 64 * KiB);
  EXPECT_EQ(read_size(256 * KiB, 100), 64 * KiB);
  EXPECT_EQ(read_size(256 * KiB, 10000), 64 * KiB);
}

TEST(ReadSizeTest, NeverMoreThanTheFlagNorLessThanASmallFlag) {
  EXPECT_EQ(read_size(16 * KiB, 1), 16 * KiB);
  EXPECT_EQ(read_size(16 * KiB, 1000), 16 * KiB);
  EXPECT_EQ(read_size(4 * 1024 * KiB, 1), 4 * 1024 * KiB);  // one client may read the flag
  EXPECT_EQ(read_size(4 * 1024 * KiB, 4), 1024 * KiB);
  EXPECT_EQ(read_size(100 * KiB, 2), 100 * KiB);  // a flag that is not a power of two
  EXPECT_EQ(read_size(100 * KiB, 1000), 64 * KiB);
}

}  // namespace
}  // namespace jsontcplb
