#include "controlplane/core/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace jsontcplb::controlplane {
namespace {

using ::testing::HasSubstr;
using Kind = ParsedOptions::Kind;

std::string a_file() {
  const std::string path = ::testing::TempDir() + "cp_options_test.json";
  std::ofstream(path) << "{}";
  return path;
}

ParsedOptions parse(std::vector<const char*> args) { return parse_options(args); }

TEST(ControlPlaneOptions, DefaultsAndTheConfigFile) {
  const std::string file = a_file();
  ParsedOptions p = parse({"-config", file.c_str()});
  ASSERT_EQ(p.kind, Kind::kRun) << p.message;
  EXPECT_EQ(p.options.config_file, file);
  EXPECT_EQ(p.options.control.addr, "127.0.0.1:9011");
  EXPECT_EQ(p.options.metrics_addr, ":9012");
  EXPECT_EQ(p.options.push_timeout, std::chrono::seconds(5));
}

TEST(ControlPlaneOptions, CheckConfigIsItsOwnMode) {
  const std::string file = a_file();
  EXPECT_EQ(parse({"-check-config", file.c_str()}).kind, Kind::kCheck);
  ParsedOptions both = parse({"-check-config", file.c_str(), "-config", file.c_str()});
  EXPECT_EQ(both.kind, Kind::kError);
  EXPECT_THAT(both.message, HasSubstr("-check-config"));
}

TEST(ControlPlaneOptions, BadValuesNameTheFlagAndTheValue) {
  const std::string file = a_file();
  struct Case {
    std::vector<const char*> args;
    std::string mentions;
  };
  for (const Case& c : std::vector<Case>{
           {{}, "-config"},
           {{"-config", "/nonexistent.json"}, "/nonexistent.json"},
           {{"-config", file.c_str(), "-control-addr", "0.0.0.0:9011"}, "0.0.0.0:9011"},
           {{"-config", file.c_str(), "-metrics-addr", "metrics.example:1"}, "metrics.example:1"},
           {{"-config", file.c_str(), "-push-timeout", "soon"}, "-push-timeout"},
           {{"-config", file.c_str(), "-max-concurrent-pushes", "0"}, "-max-concurrent-pushes"},
           {{"-config", file.c_str(), "-dataplane-tls-cert", file.c_str()}, "-dataplane-tls-key"},
           {{"-config", file.c_str(), "-dataplane-token-file", "/nonexistent"}, "/nonexistent"},
           {{"-config", file.c_str(), "extra"}, "extra"}}) {
    ParsedOptions p = parse(c.args);
    EXPECT_EQ(p.kind, Kind::kError) << c.mentions;
    EXPECT_THAT(p.message, HasSubstr(c.mentions));
  }
}

TEST(ControlPlaneOptions, HelpListsEveryFlag) {
  ParsedOptions p = parse({"-h"});
  ASSERT_EQ(p.kind, Kind::kHelp);
  for (const char* flag :
       {"-config", "-check-config", "-state-file", "-control-addr", "-control-token-file",
        "-metrics-addr", "-dataplane-token-file", "-dataplane-tls-ca", "-log-level"}) {
    EXPECT_THAT(p.message, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace jsontcplb::controlplane
