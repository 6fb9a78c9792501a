#include "dataplane/core/http_request.h"

#include <gtest/gtest.h>

namespace jsontcplb {
namespace {

TEST(FindHeadEnd, NeedsTheBlankLine) {
  EXPECT_FALSE(find_head_end("GET /metrics HTTP/1.1\r\n"));
  EXPECT_FALSE(find_head_end("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), 27u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.0\n\n"), 16u);
}

TEST(ParseRequestHead, ReadsMethodPathAndKeepAlive) {
  auto head = parse_request_head("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->method, "GET");
  EXPECT_EQ(head->path, "/metrics");
  EXPECT_TRUE(head->keep_alive);

  head = parse_request_head("GET /metrics HTTP/1.1\r\nconnection: Close\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_FALSE(head->keep_alive);

  head = parse_request_head("HEAD / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->method, "HEAD");
  EXPECT_FALSE(head->keep_alive);
  head = parse_request_head("GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_TRUE(head->keep_alive);
}

TEST(ParseRequestHead, RefusesWhatIsNotHttp1) {
  EXPECT_FALSE(parse_request_head("\r\n\r\n"));
  EXPECT_FALSE(parse_request_head("GET /metrics\r\n\r\n"));
  EXPECT_FALSE(parse_request_head("GET /metrics HTTP/2.0\r\n\r\n"));
  EXPECT_FALSE(parse_request_head(" /metrics HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(parse_request_head(std::string_view("\0\0\0 \0 \0\n\n", 10)));
}

}  // namespace
}  // namespace jsontcplb
