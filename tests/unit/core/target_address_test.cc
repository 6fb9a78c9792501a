#include "dataplane/core/target_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tests/unit/core/test_printers.h"

namespace jsontcplb {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The parsed address, or a test failure naming the error.
TargetAddress ParseOk(std::string_view text) {
  auto parsed = parse_target_address(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << "\"" << text << "\" was refused: " << *error;
    return {};
  }
  return std::get<TargetAddress>(parsed);
}

// The error message, or a test failure when the text was accepted.
std::string ParseError(std::string_view text) {
  auto parsed = parse_target_address(text);
  if (auto* address = std::get_if<TargetAddress>(&parsed)) {
    ADD_FAILURE() << "\"" << text << "\" was accepted as " << ::testing::PrintToString(*address);
    return {};
  }
  return std::get<std::string>(parsed);
}

std::vector<TargetAddress> ListOk(std::string_view text) {
  auto parsed = parse_target_list(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << "\"" << text << "\" was refused: " << *error;
    return {};
  }
  return std::get<std::vector<TargetAddress>>(parsed);
}

std::string ListError(std::string_view text) {
  auto parsed = parse_target_list(text);
  if (auto* list = std::get_if<std::vector<TargetAddress>>(&parsed)) {
    ADD_FAILURE() << "\"" << text << "\" was accepted as " << ::testing::PrintToString(*list);
    return {};
  }
  return std::get<std::string>(parsed);
}

TEST(ParseTargetAddressTest, Ipv4) {
  EXPECT_EQ(ParseOk("127.0.0.1:9999"), (TargetAddress{"127.0.0.1", 9999}));
}

TEST(ParseTargetAddressTest, HostName) {
  EXPECT_EQ(ParseOk("localhost:80"), (TargetAddress{"localhost", 80}));
  EXPECT_EQ(ParseOk("example.com:1"), (TargetAddress{"example.com", 1}));
  EXPECT_EQ(ParseOk("logstash-0.logstash.svc.cluster.local:5044"),
            (TargetAddress{"logstash-0.logstash.svc.cluster.local", 5044}));
}

TEST(ParseTargetAddressTest, BracketedIpv6) {
  EXPECT_EQ(ParseOk("[::1]:9999"), (TargetAddress{"::1", 9999}));
  EXPECT_EQ(ParseOk("[2001:db8::10]:443"), (TargetAddress{"2001:db8::10", 443}));
}

TEST(ParseTargetAddressTest, PortRangeEnds) {
  EXPECT_EQ(ParseOk("h:1").port, 1);
  EXPECT_EQ(ParseOk("h:65535").port, 65535);
}

TEST(ParseTargetAddressTest, MissingPortIsRefused) {
  EXPECT_THAT(ParseError("localhost"), HasSubstr("localhost"));
  EXPECT_THAT(ParseError("localhost:"), HasSubstr("localhost:"));
  EXPECT_THAT(ParseError("10.0.0.1"), HasSubstr("10.0.0.1"));
  EXPECT_THAT(ParseError("[::1]"), HasSubstr("[::1]"));
}

TEST(ParseTargetAddressTest, PortZeroIsRefused) {
  EXPECT_THAT(ParseError("localhost:0"), HasSubstr("localhost:0"));
}

TEST(ParseTargetAddressTest, PortAboveRangeIsRefused) {
  EXPECT_THAT(ParseError("localhost:65536"), HasSubstr("65536"));
  EXPECT_THAT(ParseError("localhost:99999999999999999999"), HasSubstr("99999999999999999999"));
  // 65536 + 9999 wraps to 9999 in 16 bits; it must not be accepted as port 9999.
  EXPECT_THAT(ParseError("localhost:75535"), HasSubstr("75535"));
}

TEST(ParseTargetAddressTest, NonNumericPortIsRefused) {
  EXPECT_THAT(ParseError("localhost:http"), HasSubstr("localhost:http"));
  EXPECT_THAT(ParseError("localhost:80a"), HasSubstr("80a"));
  EXPECT_THAT(ParseError("localhost:-1"), HasSubstr("-1"));
  EXPECT_THAT(ParseError("localhost:8 0"), HasSubstr("8 0"));
}

TEST(ParseTargetAddressTest, UnbracketedIpv6IsRefused) {
  EXPECT_THAT(ParseError("::1:9999"), HasSubstr("::1:9999"));
  EXPECT_THAT(ParseError("2001:db8::10:443"), HasSubstr("2001:db8::10:443"));
}

TEST(ParseTargetAddressTest, MalformedBracketsAreRefused) {
  ParseError("[::1:9999");
  ParseError("[::1]9999");
  ParseError("::1]:9999");
}

TEST(ParseTargetAddressTest, EmptyHostIsRefused) {
  EXPECT_THAT(ParseError(":9999"), HasSubstr(":9999"));
  ParseError("[]:9999");
}

TEST(ParseTargetAddressTest, EmptyTextIsRefused) {
  EXPECT_THAT(ParseError(""), Not(IsEmpty()));  // the message explains the rule
}

TEST(TargetAddressToStringTest, Ipv4AndHostName) {
  EXPECT_EQ((TargetAddress{"127.0.0.1", 9999}).to_string(), "127.0.0.1:9999");
  EXPECT_EQ((TargetAddress{"example.com", 1}).to_string(), "example.com:1");
}

TEST(TargetAddressToStringTest, Ipv6GetsBrackets) {
  EXPECT_EQ((TargetAddress{"::1", 9999}).to_string(), "[::1]:9999");
  EXPECT_EQ((TargetAddress{"2001:db8::10", 65535}).to_string(), "[2001:db8::10]:65535");
}

TEST(TargetAddressToStringTest, RoundTrips) {
  for (std::string_view text :
       {"127.0.0.1:9999", "localhost:80", "[::1]:9999", "example.com:1", "[fe80::1]:65535"}) {
    TargetAddress parsed = ParseOk(text);
    EXPECT_EQ(parsed.to_string(), text);
    EXPECT_EQ(ParseOk(parsed.to_string()), parsed);
  }
}

TEST(ParseTargetListTest, SingleEntry) {
  EXPECT_THAT(ListOk("127.0.0.1:9999"), ElementsAre(TargetAddress{"127.0.0.1", 9999}));
}

TEST(ParseTargetListTest, SeveralEntriesInOrder) {
  EXPECT_THAT(ListOk("b:2,a:1,[::1]:3"),
              ElementsAre(TargetAddress{"b", 2}, TargetAddress{"a", 1}, TargetAddress{"::1", 3}));
}

TEST(ParseTargetListTest, SpacesAroundEntriesAreIgnored) {
  EXPECT_THAT(ListOk(" a:1 ,  b:2,c:3 "),
              ElementsAre(TargetAddress{"a", 1}, TargetAddress{"b", 2}, TargetAddress{"c", 3}));
}

TEST(ParseTargetListTest, SameHostDifferentPortsAreNotDuplicates) {
  EXPECT_THAT(ListOk("a:1,a:2"), ElementsAre(TargetAddress{"a", 1}, TargetAddress{"a", 2}));
}

TEST(ParseTargetListTest, EmptyListIsRefused) {
  EXPECT_THAT(ListError(""), Not(IsEmpty()));
  ListError("   ");
}

TEST(ParseTargetListTest, EmptyEntryIsRefused) {
  ListError("a:1,,b:2");
  ListError("a:1,");
}

TEST(ParseTargetListTest, BadEntryIsNamed) {
  EXPECT_THAT(ListError("good:1,bad-entry"), HasSubstr("bad-entry"));
  EXPECT_THAT(ListError("good:1,other:70000"), HasSubstr("other:70000"));
}

TEST(ParseTargetListTest, DuplicatesAreRefusedNamingTheEntry) {
  EXPECT_THAT(ListError("x:1,dup:2,dup:2"), HasSubstr("dup:2"));
}

TEST(ParseTargetListTest, DuplicatesAreFoundDespiteSpaces) {
  EXPECT_THAT(ListError("dup:2, dup:2 "), HasSubstr("dup:2"));
  EXPECT_THAT(ListError("[::1]:80, [::1]:80"), HasSubstr("[::1]:80"));
}

}  // namespace
}  // namespace jsontcplb
