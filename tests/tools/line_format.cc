#include "tests/tools/line_format.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace lbtest {
namespace {

constexpr std::string_view kRunKey = "{\"run\":\"";
constexpr std::string_view kStreamKey = "\",\"stream\":";
constexpr std::string_view kSeqKey = ",\"seq\":";
constexpr std::string_view kTsKey = ",\"ts\":";
constexpr std::string_view kPadKey = ",\"pad\":\"";
constexpr std::string_view kEnd = "\"}\n";
constexpr std::size_t kFixedSize = kRunKey.size() + kStreamKey.size() + kSeqKey.size() +
                                   kTsKey.size() + kPadKey.size() + kEnd.size();
constexpr std::size_t kMaxRunId = 64;

bool is_run_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Decimal text of one number, on the stack.
struct Digits {
  char text[20];
  std::size_t size;
  explicit Digits(std::uint64_t value) {
    size = static_cast<std::size_t>(std::to_chars(text, text + sizeof text, value).ptr - text);
  }
};

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}
char* put(char* p, const Digits& d) {
  std::memcpy(p, d.text, d.size);
  return p + d.size;
}

bool consume(std::string_view& text, std::string_view literal) {
  if (!text.starts_with(literal)) return false;
  text.remove_prefix(literal.size());
  return true;
}

// Canonical decimal only: no sign, no leading zero (except "0" itself), no overflow.
template <typename T>
bool consume_number(std::string_view& text, T& value) {
  std::size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') ++n;
  if (n == 0 || (n > 1 && text[0] == '0')) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, value);
  if (ec != std::errc() || ptr != text.data() + n) return false;
  text.remove_prefix(n);
  return true;
}

// The pad is most of a line; memcmp against a block of 'x' checks it many bytes at a time.
constexpr auto kPadBlock = [] {
  std::array<char, 4096> block{};
  block.fill('x');
  return block;
}();

bool all_x(std::string_view text) {
  while (!text.empty()) {
    const std::size_t n = std::min(text.size(), kPadBlock.size());
    if (std::memcmp(text.data(), kPadBlock.data(), n) != 0) return false;
    text.remove_prefix(n);
  }
  return true;
}

}  // namespace

bool is_valid_run_id(std::string_view run_id) {
  if (run_id.empty() || run_id.size() > kMaxRunId) return false;
  for (char c : run_id) {
    if (!is_run_char(c)) return false;
  }
  return true;
}

std::size_t min_line_size(std::string_view run_id, std::uint32_t stream, std::uint64_t seq,
                          std::uint64_t ts_ns) {
  return kFixedSize + run_id.size() + Digits(stream).size + Digits(seq).size + Digits(ts_ns).size;
}

void append_line(std::string& out, std::string_view run_id, std::uint32_t stream, std::uint64_t seq,
                 std::size_t size, std::uint64_t ts_ns) {
  if (!is_valid_run_id(run_id)) {
    throw std::invalid_argument("run id \"" + std::string(run_id) +
                                "\" must be 1-64 characters of [A-Za-z0-9._-]");
  }
  const Digits stream_text(stream), seq_text(seq), ts_text(ts_ns);
  const std::size_t min_size =
      kFixedSize + run_id.size() + stream_text.size + seq_text.size + ts_text.size;
  const std::size_t pad = size > min_size ? size - min_size : 0;
  const std::size_t start = out.size();
  out.resize(start + min_size + pad);
  char* p = out.data() + start;
  p = put(p, kRunKey);
  p = put(p, run_id);
  p = put(p, kStreamKey);
  p = put(p, stream_text);
  p = put(p, kSeqKey);
  p = put(p, seq_text);
  p = put(p, kTsKey);
  p = put(p, ts_text);
  p = put(p, kPadKey);
  std::memset(p, 'x', pad);
  put(p + pad, kEnd);
}

std::string make_line(std::string_view run_id, std::uint32_t stream, std::uint64_t seq,
                      std::size_t size, std::uint64_t ts_ns) {
  std::string line;
  append_line(line, run_id, stream, seq, size, ts_ns);
  return line;
}

std::optional<LineId> parse_line(std::string_view line) {
  LineId id;
  std::string_view rest = line;
  if (!consume(rest, kRunKey)) return std::nullopt;
  std::size_t run_size = 0;
  while (run_size < rest.size() && is_run_char(rest[run_size])) ++run_size;
  if (run_size == 0 || run_size > kMaxRunId) return std::nullopt;
  id.run = rest.substr(0, run_size);
  rest.remove_prefix(run_size);
  if (!consume(rest, kStreamKey) || !consume_number(rest, id.stream) || !consume(rest, kSeqKey) ||
      !consume_number(rest, id.seq) || !consume(rest, kTsKey) || !consume_number(rest, id.ts_ns) ||
      !consume(rest, kPadKey)) {
    return std::nullopt;
  }
  // The pad runs up to the closing quote and brace: kEnd without its '\n'.
  const std::string_view close = kEnd.substr(0, kEnd.size() - 1);
  if (!rest.ends_with(close) || !all_x(rest.substr(0, rest.size() - close.size()))) {
    return std::nullopt;
  }
  return id;
}

}  // namespace lbtest
