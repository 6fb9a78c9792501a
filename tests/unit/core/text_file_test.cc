#include "dataplane/core/text_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace jsontcplb {
namespace {

TEST(ReadFile, ReadsTheWholeFileByteForByte) {
  const std::string path = ::testing::TempDir() + "/text_file_test.txt";
  const std::string text("line one\r\n\0binary\n", 19);
  std::ofstream(path, std::ios::binary) << text;
  EXPECT_EQ(read_file(path), text);
  std::remove(path.c_str());
}

TEST(ReadFile, NothingForAMissingFile) {
  EXPECT_EQ(read_file("/nonexistent/text_file_test"), std::nullopt);
}

TEST(TrimSpace, DropsWhitespaceAtBothEndsOnly) {
  EXPECT_EQ(trim_space("  s3cret token\n"), "s3cret token");
  EXPECT_EQ(trim_space("\t\r\n"), "");
  EXPECT_EQ(trim_space(""), "");
  EXPECT_EQ(trim_space("x"), "x");
}

}  // namespace
}  // namespace jsontcplb
