#include "dataplane/core/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tests/unit/core/test_printers.h"

namespace jsontcplb {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

// Restores the process-wide log level after each test.
class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { set_log_level(LogLevel::kInfo); }
};

TEST_F(LogTest, ParsesLevelNames) {
  LogLevel level = LogLevel::kInfo;
  ASSERT_TRUE(parse_log_level("error", level));
  EXPECT_EQ(level, LogLevel::kError);
  ASSERT_TRUE(parse_log_level("warn", level));
  EXPECT_EQ(level, LogLevel::kWarn);
  ASSERT_TRUE(parse_log_level("debug", level));
  EXPECT_EQ(level, LogLevel::kDebug);
  ASSERT_TRUE(parse_log_level("info", level));
  EXPECT_EQ(level, LogLevel::kInfo);
}

TEST_F(LogTest, RefusesUnknownLevels) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_FALSE(parse_log_level("", level));
  EXPECT_FALSE(parse_log_level("loud", level));
  EXPECT_FALSE(parse_log_level("debugx", level));
}

TEST_F(LogTest, EnabledUpToTheSetLevel) {
  set_log_level(LogLevel::kWarn);
  EXPECT_TRUE(log_enabled(LogLevel::kError));
  EXPECT_TRUE(log_enabled(LogLevel::kWarn));
  EXPECT_FALSE(log_enabled(LogLevel::kInfo));
  EXPECT_FALSE(log_enabled(LogLevel::kDebug));
  set_log_level(LogLevel::kDebug);
  EXPECT_TRUE(log_enabled(LogLevel::kDebug));
  set_log_level(LogLevel::kError);
  EXPECT_FALSE(log_enabled(LogLevel::kWarn));
}

TEST_F(LogTest, MacroDoesNotFormatWhenDisabled) {
  set_log_level(LogLevel::kError);
  int formatted = 0;
  auto expensive = [&formatted] {
    ++formatted;
    return std::string("x");
  };
  ::testing::internal::CaptureStderr();
  LB_LOG(kDebug, "value ", expensive());
  std::string written = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(formatted, 0);
  EXPECT_EQ(written, "");
}

TEST_F(LogTest, MacroWritesOneLineWithTheMessage) {
  set_log_level(LogLevel::kInfo);
  ::testing::internal::CaptureStderr();
  LB_LOG(kWarn, "client ", "10.0.0.1:5000", " closed after ", 42, " lines");
  std::string written = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(written, HasSubstr("client 10.0.0.1:5000 closed after 42 lines"));
  EXPECT_THAT(written, EndsWith("\n"));
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 1);
}

}  // namespace
}  // namespace jsontcplb
