#include "dataplane/core/str_cat.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace jsontcplb {
namespace {

TEST(StrCatTest, Nothing) { EXPECT_EQ(str_cat(), ""); }

TEST(StrCatTest, Strings) {
  std::string s = "std";
  std::string_view v = "view";
  EXPECT_EQ(str_cat("literal ", s, ' ', v), "literal std view");
}

TEST(StrCatTest, Integers) {
  EXPECT_EQ(str_cat(0, " ", -42, " ", 7u), "0 -42 7");
  EXPECT_EQ(str_cat(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(str_cat(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(str_cat(std::size_t{65536}), "65536");
}

TEST(StrCatTest, CharsAreCharactersNotNumbers) { EXPECT_EQ(str_cat('a', '\n'), "a\n"); }

TEST(StrCatTest, Bools) { EXPECT_EQ(str_cat(true, "/", false), "true/false"); }

TEST(StrCatTest, DoublesUseTheShortestForm) {
  EXPECT_EQ(str_cat(1.5), "1.5");
  EXPECT_EQ(str_cat(0.25), "0.25");
  EXPECT_EQ(str_cat(3.0), "3");
}

TEST(StrCatTest, AppendExtends) {
  std::string out = "a=";
  str_append(out, 1, ", b=", "two");
  EXPECT_EQ(out, "a=1, b=two");
}

}  // namespace
}  // namespace jsontcplb
