#include "dataplane/core/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/core/test_printers.h"

namespace jsontcplb {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Kind = ParsedOptions::Kind;

ParsedOptions Parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  return parse_options(argv);
}

// The options of a command line that must be accepted.
Options ParseOk(const std::vector<std::string>& args) {
  ParsedOptions parsed = Parse(args);
  EXPECT_EQ(parsed.kind, Kind::kRun) << parsed.message;
  return parsed.options;
}

// The message of a command line that must be refused; checks it is one non-empty line.
std::string ParseError(const std::vector<std::string>& args) {
  ParsedOptions parsed = Parse(args);
  EXPECT_EQ(parsed.kind, Kind::kError) << ::testing::PrintToString(args) << " was accepted";
  EXPECT_THAT(parsed.message, Not(IsEmpty()));
  EXPECT_THAT(parsed.message, Not(HasSubstr("\n")));
  return parsed.message;
}

// The usage entry of one flag: from the line starting with "-name" up to the next flag's line.
std::string UsageEntry(const std::string& usage, std::string_view flag) {
  const std::string marker = "-" + std::string(flag);
  for (std::size_t pos = usage.find(marker); pos != std::string::npos;
       pos = usage.find(marker, pos + 1)) {
    std::size_t after = pos + marker.size();
    bool ends_name = after == usage.size() || usage[after] == ' ' || usage[after] == '\n' ||
                     usage[after] == '\t';
    // An entry starts its own line: only spaces between the line start and the dash.
    std::size_t line_start = usage.rfind('\n', pos);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    bool starts_entry = usage.find_first_not_of(' ', line_start) == pos;
    if (!ends_name || !starts_entry) continue;
    std::size_t next = usage.find("\n  -", after);
    return usage.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
  }
  ADD_FAILURE() << "usage has no entry for -" << flag << ":\n" << usage;
  return {};
}

// Files for the TLS flags, removed after each test.
class OptionsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (std::string("json_tcp_lb_options_") + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cert_ = Write("cert.pem");
    key_ = Write("key.pem");
    ca_ = Write("ca.pem");
    missing_ = (dir_ / "does-not-exist.pem").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name) {
    std::filesystem::path path = dir_ / name;
    std::ofstream(path) << "-----BEGIN PLACEHOLDER-----\n";
    return path.string();
  }

  std::filesystem::path dir_;
  std::string cert_;
  std::string key_;
  std::string ca_;
  std::string missing_;
};

// --- defaults -------------------------------------------------------------------------------

TEST(OptionsTest, DefaultsOfTheGoOriginal) {
  Options o = ParseOk({});
  EXPECT_EQ(o.addr, "0.0.0.0");
  EXPECT_EQ(o.port, 9000);
  EXPECT_THAT(o.targets, ElementsAre(TargetAddress{"127.0.0.1", 9999}));
  EXPECT_EQ(o.connections, 4);
  EXPECT_EQ(o.tls_cert, "");
  EXPECT_EQ(o.tls_key, "");
  EXPECT_FALSE(o.tls_listen());
  EXPECT_FALSE(o.tls_target);
  EXPECT_FALSE(o.tls_target_skip_verify);
}

TEST(OptionsTest, DocumentedDefaultsOfOurAdditions) {
  Options o = ParseOk({});
  EXPECT_EQ(o.tls_target_ca, "");
  EXPECT_EQ(o.tls_client_ca, "");
  EXPECT_EQ(o.tls_ciphersuites,
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(o.failback_interval, 5min);
  EXPECT_EQ(o.read_buffer_bytes, 256u * 1024);
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.max_line_bytes, 1u << 20);
  EXPECT_EQ(o.queue_bytes, 16u << 20);
  EXPECT_EQ(o.max_unacked_bytes, 2u << 20);
  EXPECT_EQ(o.max_retained_bytes, 1u << 20);
  EXPECT_EQ(o.assume_unread_bytes, 0u);  // the window's estimate alone
  EXPECT_EQ(o.drain_timeout, 30s);
  EXPECT_EQ(o.connect_timeout, 5s);
  EXPECT_EQ(o.log_level, LogLevel::kInfo);
}

TEST(OptionsTest, ParsedDefaultsEqualTheStructDefaults) {
  Options parsed = ParseOk({});
  Options plain;
  EXPECT_EQ(parsed.addr, plain.addr);
  EXPECT_EQ(parsed.port, plain.port);
  EXPECT_EQ(parsed.targets, plain.targets);
  EXPECT_EQ(parsed.connections, plain.connections);
  EXPECT_EQ(parsed.tls_ciphersuites, plain.tls_ciphersuites);
  EXPECT_EQ(parsed.failback_interval, plain.failback_interval);
  EXPECT_EQ(parsed.read_buffer_bytes, plain.read_buffer_bytes);
  EXPECT_EQ(parsed.max_line_bytes, plain.max_line_bytes);
  EXPECT_EQ(parsed.queue_bytes, plain.queue_bytes);
  EXPECT_EQ(parsed.max_unacked_bytes, plain.max_unacked_bytes);
  EXPECT_EQ(parsed.max_retained_bytes, plain.max_retained_bytes);
  EXPECT_EQ(parsed.assume_unread_bytes, plain.assume_unread_bytes);
  EXPECT_EQ(parsed.drain_timeout, plain.drain_timeout);
  EXPECT_EQ(parsed.connect_timeout, plain.connect_timeout);
}

// --- the Go original's flags ----------------------------------------------------------------

TEST(OptionsTest, GoFlagsWithOneDash) {
  Options o = ParseOk({"-addr", "127.0.0.1", "-port", "9100", "-target", "a:1,b:2", "-connections",
                       "8", "-tls-target", "-tls-target-skip-verify"});
  EXPECT_EQ(o.addr, "127.0.0.1");
  EXPECT_EQ(o.port, 9100);
  EXPECT_THAT(o.targets, ElementsAre(TargetAddress{"a", 1}, TargetAddress{"b", 2}));
  EXPECT_EQ(o.connections, 8);
  EXPECT_TRUE(o.tls_target);
  EXPECT_TRUE(o.tls_target_skip_verify);
}

TEST(OptionsTest, GoFlagsWithTwoDashesAndEquals) {
  Options o = ParseOk({"--addr=::", "--port=9100", "--target=[::1]:9999", "--connections=2",
                       "--tls-target=true", "--tls-target-skip-verify=false"});
  EXPECT_EQ(o.addr, "::");
  EXPECT_EQ(o.port, 9100);
  EXPECT_THAT(o.targets, ElementsAre(TargetAddress{"::1", 9999}));
  EXPECT_EQ(o.connections, 2);
  EXPECT_TRUE(o.tls_target);
  EXPECT_FALSE(o.tls_target_skip_verify);
}

TEST(OptionsTest, OneDashWithEqualsAndTwoDashesWithSpace) {
  EXPECT_EQ(ParseOk({"-port=1234"}).port, 1234);
  EXPECT_EQ(ParseOk({"--port", "4321"}).port, 4321);
}

TEST(OptionsTest, EmptyAddrIsRefused) {
  EXPECT_THAT(ParseError({"-addr", ""}), HasSubstr("-addr"));
}

TEST(OptionsTest, BoolFlagCanBeTurnedOffAgain) {
  EXPECT_FALSE(ParseOk({"-tls-target", "-tls-target=false"}).tls_target);
}

TEST(OptionsTest, PortZeroMeansAnyFreePort) { EXPECT_EQ(ParseOk({"-port", "0"}).port, 0); }

TEST(OptionsTest, PortRangeEnds) {
  EXPECT_EQ(ParseOk({"-port", "1"}).port, 1);
  EXPECT_EQ(ParseOk({"-port", "65535"}).port, 65535);
}

TEST(OptionsTest, PortAboveRangeIsRefused) {
  EXPECT_THAT(ParseError({"-port", "70000"}), AllOf(HasSubstr("-port"), HasSubstr("70000")));
  EXPECT_THAT(ParseError({"-port", "65536"}), AllOf(HasSubstr("-port"), HasSubstr("65536")));
}

TEST(OptionsTest, NonNumericPortIsRefused) {
  EXPECT_THAT(ParseError({"-port", "abc"}), AllOf(HasSubstr("-port"), HasSubstr("abc")));
  EXPECT_THAT(ParseError({"-port", "-1"}), AllOf(HasSubstr("-port"), HasSubstr("-1")));
  EXPECT_THAT(ParseError({"-port", "80x"}), AllOf(HasSubstr("-port"), HasSubstr("80x")));
  EXPECT_THAT(ParseError({"-port="}), HasSubstr("-port"));
}

TEST(OptionsTest, PortWithoutValue) {
  EXPECT_EQ(ParseError({"-port"}), "flag needs an argument: -port");
}

TEST(OptionsTest, ConnectionsRange) {
  EXPECT_EQ(ParseOk({"-connections", "1"}).connections, 1);
  EXPECT_EQ(ParseOk({"-connections", std::to_string(Options::kMaxConnections)}).connections,
            Options::kMaxConnections);
}

TEST(OptionsTest, ThreadsRange) {
  EXPECT_EQ(ParseOk({"-threads", "1"}).threads, 1);
  EXPECT_EQ(ParseOk({"--threads=64"}).threads, 64);
  EXPECT_THAT(ParseError({"-threads", "0"}), AllOf(HasSubstr("-threads"), HasSubstr("\"0\"")));
  EXPECT_THAT(ParseError({"-threads", "65"}), AllOf(HasSubstr("-threads"), HasSubstr("65")));
  EXPECT_THAT(ParseError({"-threads", "two"}), AllOf(HasSubstr("-threads"), HasSubstr("two")));
}

TEST(OptionsTest, ZeroConnectionsIsRefused) {
  EXPECT_THAT(ParseError({"-connections", "0"}),
              AllOf(HasSubstr("-connections"), HasSubstr("\"0\"")));
}

TEST(OptionsTest, TooManyConnectionsIsRefused) {
  const std::string too_many = std::to_string(Options::kMaxConnections + 1);
  EXPECT_THAT(ParseError({"-connections", too_many}),
              AllOf(HasSubstr("-connections"), HasSubstr(too_many)));
  EXPECT_THAT(ParseError({"-connections", "99999999999999999999"}),
              AllOf(HasSubstr("-connections"), HasSubstr("99999999999999999999")));
}

TEST(OptionsTest, BadConnectionsAreRefused) {
  EXPECT_THAT(ParseError({"-connections", "-2"}),
              AllOf(HasSubstr("-connections"), HasSubstr("-2")));
  EXPECT_THAT(ParseError({"-connections", "four"}),
              AllOf(HasSubstr("-connections"), HasSubstr("four")));
}

TEST(OptionsTest, TargetListWithSpaces) {
  EXPECT_THAT(ParseOk({"-target", " a:1 , [::1]:2 "}).targets,
              ElementsAre(TargetAddress{"a", 1}, TargetAddress{"::1", 2}));
}

TEST(OptionsTest, UnparsableTargetIsRefused) {
  EXPECT_THAT(ParseError({"-target", "nohostport"}),
              AllOf(HasSubstr("-target"), HasSubstr("nohostport")));
  EXPECT_THAT(ParseError({"-target", "a:1,b:99999"}),
              AllOf(HasSubstr("-target"), HasSubstr("b:99999")));
  EXPECT_THAT(ParseError({"-target", "::1:9999"}),
              AllOf(HasSubstr("-target"), HasSubstr("::1:9999")));
  EXPECT_THAT(ParseError({"-target", ""}), HasSubstr("-target"));
}

TEST(OptionsTest, DuplicateTargetIsRefused) {
  EXPECT_THAT(ParseError({"-target", "a:1,b:2,a:1"}),
              AllOf(HasSubstr("-target"), HasSubstr("a:1")));
}

TEST(OptionsTest, UnknownFlag) {
  EXPECT_EQ(ParseError({"-bogus", "1"}), "flag provided but not defined: -bogus");
}

TEST(OptionsTest, PositionalArgumentIsRefused) {
  EXPECT_THAT(ParseError({"-port", "1", "stray"}), HasSubstr("stray"));
}

// --- our additions --------------------------------------------------------------------------

TEST(OptionsTest, SizesAcceptUnits) {
  Options o = ParseOk({"-max-line-bytes", "64KiB", "-queue-bytes", "64MiB", "-read-buffer-bytes",
                       "32768", "-max-unacked-bytes", "4M", "-assume-unread-bytes", "6MiB"});
  EXPECT_EQ(o.max_line_bytes, 64u << 10);
  EXPECT_EQ(o.queue_bytes, 64u << 20);
  EXPECT_EQ(o.read_buffer_bytes, 32768u);
  EXPECT_EQ(o.max_unacked_bytes, 4u << 20);
  EXPECT_EQ(o.assume_unread_bytes, 6u << 20);
}

TEST(OptionsTest, ZeroMaxLineBytesIsRefused) {
  EXPECT_THAT(ParseError({"-max-line-bytes", "0"}),
              AllOf(HasSubstr("-max-line-bytes"), HasSubstr("\"0\"")));
}

TEST(OptionsTest, BadSizesAreRefused) {
  EXPECT_THAT(ParseError({"-max-line-bytes", "huge"}),
              AllOf(HasSubstr("-max-line-bytes"), HasSubstr("huge")));
  EXPECT_THAT(ParseError({"-queue-bytes", "12Q"}),
              AllOf(HasSubstr("-queue-bytes"), HasSubstr("12Q")));
  EXPECT_THAT(ParseError({"-read-buffer-bytes", "-1"}),
              AllOf(HasSubstr("-read-buffer-bytes"), HasSubstr("-1")));
}

TEST(OptionsTest, DurationsAcceptGoSyntax) {
  Options o =
      ParseOk({"-failback-interval", "1m", "-drain-timeout", "1.5s", "-connect-timeout", "250ms"});
  EXPECT_EQ(o.failback_interval, 1min);
  EXPECT_EQ(o.drain_timeout, 1500ms);
  EXPECT_EQ(o.connect_timeout, 250ms);
  EXPECT_EQ(ParseOk({"--failback-interval=1h30m"}).failback_interval, 90min);
  Options t = ParseOk({"-write-timeout", "2s", "-tcp-user-timeout", "45s"});
  EXPECT_EQ(t.write_timeout, 2s);
  EXPECT_EQ(t.tcp_user_timeout, 45s);
  EXPECT_EQ(ParseOk({}).write_timeout, 30s);
  EXPECT_EQ(ParseOk({}).tcp_user_timeout, 30s);
}

TEST(OptionsTest, BadDurationsAreRefused) {
  EXPECT_THAT(ParseError({"-failback-interval", "5"}),
              AllOf(HasSubstr("-failback-interval"), HasSubstr("\"5\"")));
  EXPECT_THAT(ParseError({"-drain-timeout", "xyz"}),
              AllOf(HasSubstr("-drain-timeout"), HasSubstr("xyz")));
  EXPECT_THAT(ParseError({"-connect-timeout", "1x"}),
              AllOf(HasSubstr("-connect-timeout"), HasSubstr("1x")));
  EXPECT_THAT(ParseError({"-failback-interval", ""}), HasSubstr("-failback-interval"));
  EXPECT_THAT(ParseError({"-write-timeout", "10ms"}),
              AllOf(HasSubstr("-write-timeout"), HasSubstr("at least 100ms")));
  EXPECT_THAT(ParseError({"-tcp-user-timeout", "0"}), HasSubstr("-tcp-user-timeout"));
}

TEST(OptionsTest, LogLevel) {
  EXPECT_EQ(ParseOk({"-log-level", "debug"}).log_level, LogLevel::kDebug);
  EXPECT_EQ(ParseOk({"-log-level", "error"}).log_level, LogLevel::kError);
  EXPECT_EQ(ParseOk({"-log-level", "warn"}).log_level, LogLevel::kWarn);
  EXPECT_THAT(ParseError({"-log-level", "loud"}),
              AllOf(HasSubstr("-log-level"), HasSubstr("loud")));
}

// --- TLS files ------------------------------------------------------------------------------

TEST_F(OptionsFilesTest, CertAndKeyEnableTlsListening) {
  Options o = ParseOk({"-tls-cert", cert_, "-tls-key", key_});
  EXPECT_EQ(o.tls_cert, cert_);
  EXPECT_EQ(o.tls_key, key_);
  EXPECT_TRUE(o.tls_listen());
}

TEST_F(OptionsFilesTest, CertWithoutKeyIsRefused) {
  EXPECT_THAT(ParseError({"-tls-cert", cert_}),
              AllOf(HasSubstr("-tls-cert"), HasSubstr(cert_), HasSubstr("tls-key")));
}

TEST_F(OptionsFilesTest, KeyWithoutCertIsRefused) {
  EXPECT_THAT(ParseError({"-tls-key", key_}),
              AllOf(HasSubstr("-tls-key"), HasSubstr(key_), HasSubstr("tls-cert")));
}

TEST_F(OptionsFilesTest, MissingCertFileIsRefused) {
  EXPECT_THAT(ParseError({"-tls-cert", missing_, "-tls-key", key_}),
              AllOf(HasSubstr("-tls-cert"), HasSubstr(missing_)));
}

TEST_F(OptionsFilesTest, MissingKeyFileIsRefused) {
  EXPECT_THAT(ParseError({"-tls-cert", cert_, "-tls-key", missing_}),
              AllOf(HasSubstr("-tls-key"), HasSubstr(missing_)));
}

TEST_F(OptionsFilesTest, DirectoryIsNotACertFile) {
  const std::string dir = dir_.string();
  EXPECT_THAT(ParseError({"-tls-cert", dir, "-tls-key", key_}),
              AllOf(HasSubstr("-tls-cert"), HasSubstr(dir)));
}

TEST_F(OptionsFilesTest, TargetCaWithTlsTarget) {
  Options o = ParseOk({"-tls-target", "-tls-target-ca", ca_});
  EXPECT_TRUE(o.tls_target);
  EXPECT_EQ(o.tls_target_ca, ca_);
}

TEST_F(OptionsFilesTest, MissingTargetCaIsRefused) {
  EXPECT_THAT(ParseError({"-tls-target", "-tls-target-ca", missing_}),
              AllOf(HasSubstr("-tls-target-ca"), HasSubstr(missing_)));
}

TEST_F(OptionsFilesTest, ClientCaWithListeningTls) {
  Options o = ParseOk({"-tls-cert", cert_, "-tls-key", key_, "-tls-client-ca", ca_});
  EXPECT_EQ(o.tls_client_ca, ca_);
}

TEST_F(OptionsFilesTest, MissingClientCaIsRefused) {
  EXPECT_THAT(ParseError({"-tls-cert", cert_, "-tls-key", key_, "-tls-client-ca", missing_}),
              AllOf(HasSubstr("-tls-client-ca"), HasSubstr(missing_)));
}

TEST_F(OptionsFilesTest, CiphersuitesWithTlsOnEitherSide) {
  EXPECT_EQ(
      ParseOk({"-tls-target", "-tls-ciphersuites", "TLS_AES_256_GCM_SHA384"}).tls_ciphersuites,
      "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(ParseOk({"-tls-cert", cert_, "-tls-key", key_, "-tls-ciphersuites",
                     "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"})
                .tls_ciphersuites,
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
}

TEST(OptionsTest, CiphersuitesWithoutTlsOrEmptyAreRefused) {
  EXPECT_THAT(ParseError({"-tls-ciphersuites", "TLS_AES_256_GCM_SHA384"}),
              AllOf(HasSubstr("-tls-ciphersuites"), HasSubstr("TLS_AES_256_GCM_SHA384"),
                    HasSubstr("-tls-target")));
  EXPECT_THAT(ParseError({"-tls-target", "-tls-ciphersuites", ""}),
              HasSubstr("for -tls-ciphersuites"));
}

// --- help -----------------------------------------------------------------------------------

TEST(OptionsHelpTest, HelpFlagsGiveUsage) {
  for (const char* help : {"-h", "--help", "-help"}) {
    ParsedOptions parsed = Parse({help});
    EXPECT_EQ(parsed.kind, Kind::kHelp) << help;
    EXPECT_THAT(parsed.message, HasSubstr("json-tcp-lb")) << help;
  }
}

TEST(OptionsHelpTest, HelpWinsOverOtherFlags) {
  EXPECT_EQ(Parse({"-port", "1", "-h"}).kind, Kind::kHelp);
}

TEST(OptionsHelpTest, UsageListsEveryFlag) {
  const std::string usage = Parse({"-h"}).message;
  for (std::string_view flag : {"addr",
                                "port",
                                "target",
                                "connections",
                                "tls-cert",
                                "tls-key",
                                "tls-target",
                                "tls-target-skip-verify",
                                "tls-target-ca",
                                "tls-client-ca",
                                "tls-ciphersuites",
                                "failback-interval",
                                "read-buffer-bytes",
                                "max-line-bytes",
                                "queue-bytes",
                                "max-unacked-bytes",
                                "max-retained-bytes",
                                "assume-unread-bytes",
                                "drain-timeout",
                                "connect-timeout",
                                "write-timeout",
                                "tcp-user-timeout",
                                "log-level"}) {
    EXPECT_THAT(UsageEntry(usage, flag), Not(IsEmpty())) << flag;
  }
}

TEST(OptionsHelpTest, UsageShowsDefaults) {
  const std::string usage = Parse({"-h"}).message;
  EXPECT_THAT(UsageEntry(usage, "addr"), HasSubstr("0.0.0.0"));
  EXPECT_THAT(UsageEntry(usage, "port"), HasSubstr("9000"));
  EXPECT_THAT(UsageEntry(usage, "target"), HasSubstr("127.0.0.1:9999"));
  EXPECT_THAT(UsageEntry(usage, "connections"), HasSubstr("default 4"));
  EXPECT_THAT(UsageEntry(usage, "failback-interval"), HasSubstr("5m"));
  EXPECT_THAT(UsageEntry(usage, "read-buffer-bytes"), HasSubstr("default 256KiB"));
  EXPECT_THAT(UsageEntry(usage, "threads"), HasSubstr("default 2"));
  EXPECT_THAT(UsageEntry(usage, "max-line-bytes"), AnyOf(HasSubstr("1MiB"), HasSubstr("1048576")));
  EXPECT_THAT(UsageEntry(usage, "queue-bytes"), AnyOf(HasSubstr("16MiB"), HasSubstr("16777216")));
  EXPECT_THAT(UsageEntry(usage, "max-unacked-bytes"),
              AnyOf(HasSubstr("2MiB"), HasSubstr("2097152")));
  EXPECT_THAT(UsageEntry(usage, "drain-timeout"), HasSubstr("30s"));
  EXPECT_THAT(UsageEntry(usage, "connect-timeout"), HasSubstr("5s"));
  EXPECT_THAT(UsageEntry(usage, "log-level"), HasSubstr("info"));
}

}  // namespace
}  // namespace jsontcplb

namespace jsontcplb {
namespace {

// A readable file for flags that name one.
std::string some_file() {
  std::string path = ::testing::TempDir() + "options_control_test.txt";
  std::ofstream(path) << "secret\n";
  return path;
}

TEST(OptionsControlTest, LoopbackByDefaultAndOffDisables) {
  const char* none[] = {"-control-addr", "off"};
  EXPECT_EQ(parse_options({}).options.control.addr, "127.0.0.1:9001");
  EXPECT_EQ(parse_options(none).options.control.addr, "off");
}

TEST(OptionsControlTest, NonLoopbackNeedsTokenMtlsOrInsecure) {
  const char* open[] = {"-control-addr", "0.0.0.0:9001"};
  ParsedOptions refused = parse_options(open);
  EXPECT_EQ(refused.kind, ParsedOptions::Kind::kError);
  EXPECT_NE(refused.message.find("-control-addr"), std::string::npos) << refused.message;
  EXPECT_NE(refused.message.find("0.0.0.0:9001"), std::string::npos) << refused.message;
  const char* insecure[] = {"-control-addr", "0.0.0.0:9001", "-control-insecure"};
  EXPECT_EQ(parse_options(insecure).kind, ParsedOptions::Kind::kRun);
  const std::string file = some_file();
  const char* token[] = {"-control-addr", "0.0.0.0:9001", "-control-token-file", file.c_str()};
  EXPECT_EQ(parse_options(token).kind, ParsedOptions::Kind::kRun) << parse_options(token).message;
}

TEST(OptionsControlTest, BadControlAddressIsNamed) {
  const char* bad[] = {"-control-addr", "nonsense"};
  ParsedOptions p = parse_options(bad);
  EXPECT_EQ(p.kind, ParsedOptions::Kind::kError);
  EXPECT_NE(p.message.find("-control-addr"), std::string::npos) << p.message;
}

TEST(OptionsMetricsTest, DefaultPortOffAndBadValues) {
  EXPECT_EQ(parse_options({}).options.metrics_addr, ":9002");
  const char* off[] = {"-metrics-addr", "off"};
  EXPECT_EQ(parse_options(off).options.metrics_addr, "off");
  const char* zero[] = {"-metrics-addr", "127.0.0.1:0"};
  EXPECT_EQ(parse_options(zero).kind, ParsedOptions::Kind::kRun) << parse_options(zero).message;
  const char* v6[] = {"-metrics-addr", "[::1]:9002"};
  EXPECT_EQ(parse_options(v6).kind, ParsedOptions::Kind::kRun) << parse_options(v6).message;
  const char* bad[] = {"-metrics-addr", "metrics.example:9002"};
  ParsedOptions p = parse_options(bad);
  EXPECT_EQ(p.kind, ParsedOptions::Kind::kError);
  EXPECT_NE(p.message.find("-metrics-addr"), std::string::npos) << p.message;
  EXPECT_NE(p.message.find("metrics.example:9002"), std::string::npos) << p.message;
}

TEST(OptionsControlTest, ClientCaNeedsACertificate) {
  const std::string file = some_file();
  const char* ca_only[] = {"-control-client-ca", file.c_str()};
  ParsedOptions p = parse_options(ca_only);
  EXPECT_EQ(p.kind, ParsedOptions::Kind::kError);
  EXPECT_NE(p.message.find("-control-client-ca"), std::string::npos) << p.message;
}

}  // namespace
}  // namespace jsontcplb
