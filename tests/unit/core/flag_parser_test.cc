#include "dataplane/core/flag_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/core/test_printers.h"

namespace jsontcplb {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Kind = FlagParser::Outcome::Kind;

// A parser with a string flag, a validated number flag and two booleans, recording every value
// each setter receives.
class FlagParserTest : public ::testing::Test {
 protected:
  FlagParserTest() {
    parser_.add("name", "string", "\"anonymous\"", "Who to greet",
                [this](std::string_view v) -> std::optional<std::string> {
                  names_.emplace_back(v);
                  return std::nullopt;
                });
    parser_.add("count", "int", "4", "How many times",
                [this](std::string_view v) -> std::optional<std::string> {
                  if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos) {
                    return "must be a whole number";
                  }
                  counts_.emplace_back(v);
                  return std::nullopt;
                });
    parser_.add_bool("b", "A switch", [this](std::string_view v) -> std::optional<std::string> {
      bools_.emplace_back(v);
      return std::nullopt;
    });
    parser_.add_bool("locked", "Cannot be turned on",
                     [](std::string_view v) -> std::optional<std::string> {
                       if (v == "true") return "is locked";
                       return std::nullopt;
                     });
  }

  FlagParser::Outcome Parse(std::vector<std::string> args) {
    args_ = std::move(args);
    std::vector<const char*> argv;
    for (const std::string& a : args_) argv.push_back(a.c_str());
    return parser_.parse(argv);
  }

  FlagParser parser_;
  std::vector<std::string> args_;
  std::vector<std::string> names_;
  std::vector<std::string> counts_;
  std::vector<std::string> bools_;
};

TEST_F(FlagParserTest, NoArguments) {
  FlagParser::Outcome out = Parse({});
  EXPECT_EQ(out.kind, Kind::kOk);
  EXPECT_THAT(out.positional, IsEmpty());
  EXPECT_THAT(names_, IsEmpty());
  EXPECT_THAT(bools_, IsEmpty());
}

TEST_F(FlagParserTest, OneDashSeparateValue) {
  FlagParser::Outcome out = Parse({"-name", "alice"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("alice"));
  EXPECT_THAT(out.positional, IsEmpty());
}

TEST_F(FlagParserTest, TwoDashesSeparateValue) {
  FlagParser::Outcome out = Parse({"--name", "alice"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("alice"));
}

TEST_F(FlagParserTest, TwoDashesWithEquals) {
  FlagParser::Outcome out = Parse({"--name=alice"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("alice"));
}

TEST_F(FlagParserTest, OneDashWithEquals) {
  FlagParser::Outcome out = Parse({"-name=alice"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("alice"));
}

TEST_F(FlagParserTest, ValueMayContainEqualsSigns) {
  FlagParser::Outcome out = Parse({"-name=a=b"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("a=b"));
}

TEST_F(FlagParserTest, EmptyValueWithEquals) {
  FlagParser::Outcome out = Parse({"-name="});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre(""));
}

TEST_F(FlagParserTest, SeparateValueMayStartWithDash) {
  // Go's flag package takes the next argument as the value whatever it looks like.
  FlagParser::Outcome out = Parse({"-name", "-b"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("-b"));
  EXPECT_THAT(bools_, IsEmpty());
}

TEST_F(FlagParserTest, SeparateValueMayLookLikeHelp) {
  FlagParser::Outcome out = Parse({"-name", "-h"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("-h"));
}

TEST_F(FlagParserTest, SeveralFlagsInOrderAndRepeatsReachTheSetter) {
  FlagParser::Outcome out = Parse({"-name", "a", "--count=3", "-b", "-name=z"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("a", "z"));
  EXPECT_THAT(counts_, ElementsAre("3"));
  EXPECT_THAT(bools_, ElementsAre("true"));
}

TEST_F(FlagParserTest, BoolWithoutValueIsTrue) {
  FlagParser::Outcome out = Parse({"-b"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(bools_, ElementsAre("true"));
}

TEST_F(FlagParserTest, BoolWithAttachedFalse) {
  FlagParser::Outcome out = Parse({"-b=false"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(bools_, ElementsAre("false"));
}

TEST_F(FlagParserTest, BoolTwoDashesAttachedTrue) {
  FlagParser::Outcome out = Parse({"--b=true"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(bools_, ElementsAre("true"));
}

TEST_F(FlagParserTest, BoolTwoDashesWithoutValue) {
  FlagParser::Outcome out = Parse({"--b"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(bools_, ElementsAre("true"));
}

TEST_F(FlagParserTest, BoolDoesNotConsumeTheNextArgument) {
  // As in Go: `-b false` sets b and leaves "false" as the first positional argument.
  FlagParser::Outcome out = Parse({"-b", "false"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(bools_, ElementsAre("true"));
  EXPECT_THAT(out.positional, ElementsAre("false"));
}

TEST_F(FlagParserTest, InvalidBoolIsAnError) {
  FlagParser::Outcome out = Parse({"-b=maybe"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_THAT(out.message, AllOf(HasSubstr("maybe"), HasSubstr("-b")));
  EXPECT_THAT(bools_, IsEmpty());
}

TEST_F(FlagParserTest, UnknownFlag) {
  FlagParser::Outcome out = Parse({"-x"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.message, "flag provided but not defined: -x");
}

TEST_F(FlagParserTest, UnknownFlagWithTwoDashesAndValue) {
  FlagParser::Outcome out = Parse({"--x=1"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.message, "flag provided but not defined: -x");
}

TEST_F(FlagParserTest, UnknownFlagAfterGoodOnes) {
  FlagParser::Outcome out = Parse({"-name", "a", "-nope", "1"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.message, "flag provided but not defined: -nope");
}

TEST_F(FlagParserTest, MissingArgument) {
  FlagParser::Outcome out = Parse({"-name"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.message, "flag needs an argument: -name");
  EXPECT_THAT(names_, IsEmpty());
}

TEST_F(FlagParserTest, MissingArgumentWithTwoDashes) {
  FlagParser::Outcome out = Parse({"-b", "--count"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.message, "flag needs an argument: -count");
}

TEST_F(FlagParserTest, HelpForms) {
  for (const char* help : {"-h", "--h", "-help", "--help"}) {
    FlagParser::Outcome out = Parse({help});
    EXPECT_EQ(out.kind, Kind::kHelp) << help;
  }
}

TEST_F(FlagParserTest, HelpAfterOtherFlags) {
  EXPECT_EQ(Parse({"-name", "a", "-h"}).kind, Kind::kHelp);
}

TEST_F(FlagParserTest, DoubleDashEndsFlags) {
  FlagParser::Outcome out = Parse({"-name", "a", "--", "-b", "-x", "rest"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(names_, ElementsAre("a"));
  EXPECT_THAT(bools_, IsEmpty());
  EXPECT_THAT(out.positional, ElementsAre("-b", "-x", "rest"));
}

TEST_F(FlagParserTest, DoubleDashAlone) {
  FlagParser::Outcome out = Parse({"--"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(out.positional, IsEmpty());
}

TEST_F(FlagParserTest, PositionalArgumentsEndFlags) {
  FlagParser::Outcome out = Parse({"-b", "one", "two", "-name", "x"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(bools_, ElementsAre("true"));
  EXPECT_THAT(names_, IsEmpty());
  EXPECT_THAT(out.positional, ElementsAre("one", "two", "-name", "x"));
}

TEST_F(FlagParserTest, SingleDashIsPositional) {
  FlagParser::Outcome out = Parse({"-", "-b"});
  EXPECT_EQ(out.kind, Kind::kOk) << out.message;
  EXPECT_THAT(out.positional, ElementsAre("-", "-b"));
  EXPECT_THAT(bools_, IsEmpty());
}

TEST_F(FlagParserTest, BadSyntaxIsAnError) {
  for (const char* bad : {"---name", "-=x", "--=x"}) {
    FlagParser::Outcome out = Parse({bad, "v"});
    EXPECT_EQ(out.kind, Kind::kError) << bad;
    EXPECT_THAT(out.message, HasSubstr(bad));
  }
}

TEST_F(FlagParserTest, SetterErrorNamesFlagValueAndRule) {
  FlagParser::Outcome out = Parse({"-count", "abc"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_THAT(out.message,
              AllOf(HasSubstr("-count"), HasSubstr("abc"), HasSubstr("must be a whole number")));
  EXPECT_THAT(counts_, IsEmpty());
}

TEST_F(FlagParserTest, SetterErrorWithEqualsForm) {
  FlagParser::Outcome out = Parse({"--count=12x"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_THAT(out.message,
              AllOf(HasSubstr("-count"), HasSubstr("12x"), HasSubstr("must be a whole number")));
}

TEST_F(FlagParserTest, BoolSetterError) {
  FlagParser::Outcome out = Parse({"-locked"});
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_THAT(out.message, AllOf(HasSubstr("-locked"), HasSubstr("is locked")));
  EXPECT_EQ(Parse({"-locked=false"}).kind, Kind::kOk);
}

TEST_F(FlagParserTest, ErrorMessageIsOneLine) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"-x"}, {"-name"}, {"-count", "abc"}, {"-b=maybe"}, {"-locked"}}) {
    FlagParser::Outcome out = Parse(args);
    EXPECT_EQ(out.kind, Kind::kError) << args[0];
    EXPECT_THAT(out.message, Not(HasSubstr("\n"))) << args[0];
    EXPECT_THAT(out.message, Not(IsEmpty())) << args[0];
  }
}

TEST_F(FlagParserTest, UsageListsEveryFlagWithHelpAndDefault) {
  std::string usage = parser_.usage("greeter", "Greets people.");
  EXPECT_THAT(usage, HasSubstr("Greets people."));
  EXPECT_THAT(usage, HasSubstr("greeter"));
  EXPECT_THAT(usage, HasSubstr("-name string"));
  EXPECT_THAT(usage, HasSubstr("Who to greet"));
  EXPECT_THAT(usage, HasSubstr("(default \"anonymous\")"));
  EXPECT_THAT(usage, HasSubstr("-count int"));
  EXPECT_THAT(usage, HasSubstr("How many times"));
  EXPECT_THAT(usage, HasSubstr("(default 4)"));
  EXPECT_THAT(usage, HasSubstr("-b"));
  EXPECT_THAT(usage, HasSubstr("A switch"));
  EXPECT_THAT(usage, HasSubstr("-locked"));
  EXPECT_THAT(usage, HasSubstr("Cannot be turned on"));
}

TEST(FlagParserEmptyTest, EverythingIsUnknown) {
  FlagParser parser;
  std::vector<const char*> args = {"-port", "1"};
  FlagParser::Outcome out = parser.parse(args);
  EXPECT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.message, "flag provided but not defined: -port");
}

}  // namespace
}  // namespace jsontcplb
