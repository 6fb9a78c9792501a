// json-tcp-lb's command line (parse_options) and the FlagParser grammar under it.
//
// Input: argv words separated by NUL bytes (the program name excluded), e.g.
// "-target\0[::1]:5000,127.0.0.1:9999\0-connections=8".
//
// Properties: no crash; kError always has a message (exit 2 must say why); kHelp has the usage
// text; a command line parse_options accepts describes a live config that validate() accepts,
// so the first config never breaks a rule the control API enforces on later ones; FlagParser
// keeps positional arguments only when they come after the flags.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/core/flag_parser.h"
#include "dataplane/core/flag_setters.h"
#include "dataplane/core/live_config.h"
#include "dataplane/core/log.h"
#include "dataplane/core/options.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using jsontcplb::FlagParser;

std::string joined(const std::vector<const char*>& argv) {
  std::string out;
  for (const char* word : argv) {
    out += out.empty() ? "" : " ";
    out += "'" + std::string(word) + "'";
  }
  return out;
}

void check_options(const std::vector<const char*>& argv) {
  const jsontcplb::ParsedOptions parsed = jsontcplb::parse_options(argv);
  using Kind = jsontcplb::ParsedOptions::Kind;
  switch (parsed.kind) {
    case Kind::kError:
      FUZZ_CHECK(!parsed.message.empty(), "kError without a message for " + joined(argv));
      return;
    case Kind::kHelp:
      FUZZ_CHECK(!parsed.message.empty(), "kHelp without the usage text");
      return;
    case Kind::kRun:
      break;
  }
  const jsontcplb::Options& o = parsed.options;
  FUZZ_CHECK(!o.targets.empty(), "accepted no target: " + joined(argv));
  const auto status = jsontcplb::validate(jsontcplb::LiveConfig::from_options(o));
  FUZZ_CHECK(status.ok(), "accepted " + joined(argv) +
                              " but its live config is invalid: " + std::string(status.message()));
  // And within its own limits: what the flags start with, a change could not be refused for.
  const auto within = jsontcplb::check_limits(jsontcplb::LiveConfig::from_options(o), o.limits);
  FUZZ_CHECK(within.ok(),
             "accepted " + joined(argv) + " beyond its limits: " + std::string(within.message()));
}

// A parser with one flag of every kind the binaries use.
struct Flags {
  std::string text;
  bool boolean = false;
  int number = 0;
  std::size_t bytes = 0;
  std::chrono::milliseconds duration{0};
  jsontcplb::LogLevel level = jsontcplb::LogLevel::kInfo;
  std::string metrics;
  FlagParser parser;

  Flags() {
    namespace f = jsontcplb::flags;
    parser.add("text", "string", "\"\"", "text", f::text(text));
    parser.add_bool("bool", "boolean", f::boolean(boolean));
    parser.add("int", "int", "1", "int", f::int_in_range(number, -5, 65535));
    parser.add("bytes", "size", "1KiB", "bytes", f::bytes_in_range(bytes, 1, 1ULL << 40));
    parser.add("duration", "duration", "1s", "duration",
               f::duration_at_least(duration, std::chrono::milliseconds(1)));
    parser.add("level", "level", "info", "level", f::log_level(level));
    parser.add("metrics", "host:port", ":9002", "metrics", f::metrics_address(metrics));
  }
};

void check_flag_parser(const std::vector<const char*>& argv) {
  using Kind = FlagParser::Outcome::Kind;
  Flags flags;
  const FlagParser::Outcome outcome = flags.parser.parse(argv);
  if (outcome.kind == Kind::kError) {
    FUZZ_CHECK(!outcome.message.empty(), "kError without a message for " + joined(argv));
  }
  if (outcome.kind != Kind::kOk) {
    FUZZ_CHECK(outcome.positional.empty(), "positional arguments with kHelp or kError");
  }
  FUZZ_CHECK(outcome.positional.size() <= argv.size(), "more positional arguments than words");

  Flags only;
  const FlagParser::Outcome flags_only = only.parser.parse_flags_only(argv, "fuzz");
  FUZZ_CHECK(flags_only.kind != Kind::kError || !flags_only.message.empty(),
             "kError without a message for " + joined(argv));
  if (flags_only.kind == Kind::kOk) {
    FUZZ_CHECK(flags_only.positional.empty(), "parse_flags_only kept a positional argument");
  }
  // Both parse the same flags: they differ only in whether positional arguments are refused.
  if (outcome.kind != Kind::kOk || outcome.positional.empty()) {
    FUZZ_CHECK(flags_only.kind == outcome.kind && flags_only.message == outcome.message,
               "parse and parse_flags_only disagree on " + joined(argv));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Words at NUL bytes, as the kernel hands argv over; an input without a NUL is one word.
  std::vector<std::string> words;
  if (size > 0) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    for (;;) {
      const std::size_t nul = rest.find('\0');
      words.emplace_back(rest.substr(0, nul));
      if (nul == std::string_view::npos) break;
      rest.remove_prefix(nul + 1);
    }
  }
  std::vector<const char*> argv;
  argv.reserve(words.size());
  for (const std::string& word : words) argv.push_back(word.c_str());

  check_options(argv);
  check_flag_parser(argv);
  return 0;
}
