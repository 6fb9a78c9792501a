#include "dataplane/core/line_splitter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "tests/unit/core/test_printers.h"

namespace jsontcplb {
namespace {

constexpr std::size_t kReadBytes = 16;
constexpr std::size_t kNoLimit = 1 << 20;

std::size_t CountNewlines(std::string_view bytes) {
  return static_cast<std::size_t>(std::count(bytes.begin(), bytes.end(), '\n'));
}

// One read: copies `chunk` into the space from prepare() and commits it.
LineSplitter::Result Read(LineSplitter& splitter, std::string_view chunk) {
  std::span<char> space = splitter.prepare();
  if (space.size() < chunk.size()) {
    ADD_FAILURE() << "a read of " << chunk.size() << " bytes does not fit prepare() of "
                  << space.size() << " bytes";
    chunk = chunk.substr(0, space.size());
  }
  std::copy(chunk.begin(), chunk.end(), space.begin());
  return splitter.commit(chunk.size());
}

// Everything a splitter produced for one stream, with the batch invariants checked on the way.
struct Collected {
  std::string bytes;
  std::size_t lines = 0;
  std::size_t batches = 0;
  bool line_too_long = false;

  void add(const Batch& batch) {
    EXPECT_TRUE(batch.empty() || batch.bytes().back() == '\n')
        << "batch does not end in a newline: " << ::testing::PrintToString(batch);
    EXPECT_EQ(batch.lines(), CountNewlines(batch.bytes()));
    EXPECT_EQ(batch.size(), batch.bytes().size());
    if (!batch.empty()) ++batches;
    bytes.append(batch.bytes());
    lines += batch.lines();
  }
};

// A stream of `line_count` lines of random bytes (NUL, CR and bytes >= 0x80 included), each at
// most `max_line` bytes long, optionally followed by a fragment without its newline.
std::string RandomStream(std::mt19937& rng, int line_count, std::size_t max_line,
                         bool trailing_fragment) {
  std::uniform_int_distribution<std::size_t> length(0, max_line);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string stream;
  auto append_line_body = [&] {
    std::size_t n = length(rng);
    for (std::size_t i = 0; i < n; ++i) {
      char c = static_cast<char>(byte(rng));
      stream.push_back(c == '\n' ? 'n' : c);
    }
  };
  for (int i = 0; i < line_count; ++i) {
    append_line_body();
    stream.push_back('\n');
  }
  if (trailing_fragment) {
    std::size_t before = stream.size();
    append_line_body();
    if (stream.size() == before) stream.push_back('x');  // a fragment is never empty
  }
  return stream;
}

std::string ExpectedOutput(const std::string& stream) {
  if (stream.empty() || stream.back() == '\n') return stream;
  return stream + '\n';
}

TEST(LineSplitterTest, PrepareOffersAtLeastReadBytes) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  EXPECT_GE(splitter.prepare().size(), kReadBytes);
}

TEST(LineSplitterTest, PrepareOffersAtLeastReadBytesWhileCarrying) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  for (int i = 0; i < 5; ++i) {
    std::span<char> space = splitter.prepare();
    ASSERT_GE(space.size(), kReadBytes);
    std::fill(space.begin(), space.end(), 'a');
    LineSplitter::Result result = splitter.commit(space.size());
    EXPECT_TRUE(result.batch.empty());
    EXPECT_FALSE(result.line_too_long);
  }
  EXPECT_GE(splitter.carried(), 5 * kReadBytes);
  EXPECT_GE(splitter.prepare().size(), kReadBytes);
}

TEST(LineSplitterTest, OneWholeLine) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  LineSplitter::Result result = Read(splitter, "hello\n");
  EXPECT_EQ(result.batch.bytes(), "hello\n");
  EXPECT_EQ(result.batch.lines(), 1u);
  EXPECT_FALSE(result.line_too_long);
  EXPECT_EQ(splitter.carried(), 0u);
}

TEST(LineSplitterTest, ManyLinesInOneRead) {
  std::string input;
  for (int i = 0; i < 100; ++i) input += "{\"i\":" + std::to_string(i) + "}\n";
  LineSplitter splitter(input.size(), kNoLimit);
  LineSplitter::Result result = Read(splitter, input);
  EXPECT_EQ(result.batch.bytes(), input);
  EXPECT_EQ(result.batch.lines(), 100u);
  EXPECT_FALSE(result.line_too_long);
  EXPECT_EQ(splitter.carried(), 0u);
}

TEST(LineSplitterTest, ReadWithoutNewlineIsCarried) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  LineSplitter::Result result = Read(splitter, "{\"a\":");
  EXPECT_TRUE(result.batch.empty());
  EXPECT_EQ(result.batch.lines(), 0u);
  EXPECT_FALSE(result.line_too_long);
  EXPECT_EQ(splitter.carried(), 5u);
}

TEST(LineSplitterTest, EverythingUpToTheLastNewlineBecomesTheBatch) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  LineSplitter::Result result = Read(splitter, "a\nbb\nccc");
  EXPECT_EQ(result.batch.bytes(), "a\nbb\n");
  EXPECT_EQ(result.batch.lines(), 2u);
  EXPECT_EQ(splitter.carried(), 3u);
}

TEST(LineSplitterTest, FragmentIsCarriedIntoTheNextRead) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  EXPECT_TRUE(Read(splitter, "ab").batch.empty());
  LineSplitter::Result second = Read(splitter, "cd\nef");
  EXPECT_EQ(second.batch.bytes(), "abcd\n");
  EXPECT_EQ(second.batch.lines(), 1u);
  EXPECT_EQ(splitter.carried(), 2u);
  LineSplitter::Result third = Read(splitter, "g\nh\n");
  EXPECT_EQ(third.batch.bytes(), "efg\nh\n");
  EXPECT_EQ(third.batch.lines(), 2u);
  EXPECT_EQ(splitter.carried(), 0u);
}

TEST(LineSplitterTest, FragmentIsCarriedOverSeveralReads) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  EXPECT_TRUE(Read(splitter, "{\"a\"").batch.empty());
  EXPECT_TRUE(Read(splitter, ":1,").batch.empty());
  EXPECT_TRUE(Read(splitter, "\"b\":").batch.empty());
  EXPECT_EQ(splitter.carried(), 11u);
  LineSplitter::Result result = Read(splitter, "2}\n");
  EXPECT_EQ(result.batch.bytes(), "{\"a\":1,\"b\":2}\n");
  EXPECT_EQ(result.batch.lines(), 1u);
  EXPECT_EQ(splitter.carried(), 0u);
}

TEST(LineSplitterTest, ReadThatFillsPrepareExactlyAndEndsInNewline) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  std::span<char> space = splitter.prepare();
  ASSERT_GE(space.size(), 2u);
  std::string line(space.size() - 1, 'x');
  line += '\n';
  std::copy(line.begin(), line.end(), space.begin());
  LineSplitter::Result result = splitter.commit(space.size());
  EXPECT_EQ(result.batch.bytes(), line);
  EXPECT_EQ(result.batch.lines(), 1u);
  EXPECT_EQ(splitter.carried(), 0u);

  // Nothing of the full read may leak into the next one.
  LineSplitter::Result next = Read(splitter, "y\n");
  EXPECT_EQ(next.batch.bytes(), "y\n");
}

TEST(LineSplitterTest, ReadThatFillsPrepareExactlyWithNewlineInside) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  std::span<char> space = splitter.prepare();
  ASSERT_GE(space.size(), 3u);
  std::string tail(space.size() - 2, 'z');
  std::string read = "a\n" + tail;
  std::copy(read.begin(), read.end(), space.begin());
  LineSplitter::Result result = splitter.commit(space.size());
  EXPECT_EQ(result.batch.bytes(), "a\n");
  EXPECT_EQ(splitter.carried(), tail.size());

  EXPECT_GE(splitter.prepare().size(), kReadBytes);
  LineSplitter::Result next = Read(splitter, "\n");
  EXPECT_EQ(next.batch.bytes(), tail + "\n");
  EXPECT_EQ(next.batch.lines(), 1u);
}

TEST(LineSplitterTest, SeveralFullReadsWithoutNewlineThenNewline) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  std::string expected;
  for (int i = 0; i < 4; ++i) {
    std::span<char> space = splitter.prepare();
    ASSERT_GE(space.size(), kReadBytes);
    std::string read(space.size(), static_cast<char>('a' + i));
    std::copy(read.begin(), read.end(), space.begin());
    EXPECT_TRUE(splitter.commit(space.size()).batch.empty());
    expected += read;
    EXPECT_EQ(splitter.carried(), expected.size());
  }
  LineSplitter::Result result = Read(splitter, "\n");
  EXPECT_EQ(result.batch.bytes(), expected + "\n");
  EXPECT_EQ(result.batch.lines(), 1u);
}

TEST(LineSplitterTest, NewlineAsTheOnlyByteOfAFullCarry) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  EXPECT_TRUE(Read(splitter, "abc").batch.empty());
  LineSplitter::Result result = Read(splitter, "\n");
  EXPECT_EQ(result.batch.bytes(), "abc\n");
  EXPECT_EQ(splitter.carried(), 0u);
}

TEST(LineSplitterTest, CrlfIsPassedThroughUntouched) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  LineSplitter::Result result = Read(splitter, "a\r\nb\r\n\r\n");
  EXPECT_EQ(result.batch.bytes(), "a\r\nb\r\n\r\n");
  EXPECT_EQ(result.batch.lines(), 3u);
}

TEST(LineSplitterTest, CrAtTheEndOfAReadIsCarriedWithTheLine) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  EXPECT_TRUE(Read(splitter, "a\r").batch.empty());
  EXPECT_EQ(splitter.carried(), 2u);
  EXPECT_EQ(Read(splitter, "\n").batch.bytes(), "a\r\n");
}

TEST(LineSplitterTest, EmptyLinesAreLines) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  LineSplitter::Result result = Read(splitter, "\n\n");
  EXPECT_EQ(result.batch.bytes(), "\n\n");
  EXPECT_EQ(result.batch.lines(), 2u);
  EXPECT_EQ(splitter.carried(), 0u);
}

TEST(LineSplitterTest, FragmentFollowedByEmptyLine) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  Read(splitter, "x");
  LineSplitter::Result result = Read(splitter, "\n\n");
  EXPECT_EQ(result.batch.bytes(), "x\n\n");
  EXPECT_EQ(result.batch.lines(), 2u);
}

TEST(LineSplitterTest, NulBytesAndInvalidUtf8AreUntouched) {
  const std::string input("a\0b\n\xff\xfe\n\xc3\x28\xed\xa0\x80\n\0\n", 15);
  ASSERT_EQ(input.size(), 15u);
  LineSplitter splitter(input.size(), kNoLimit);
  LineSplitter::Result result = Read(splitter, input);
  EXPECT_EQ(result.batch.bytes(), input);
  EXPECT_EQ(result.batch.lines(), 4u);
}

TEST(LineSplitterTest, NulBytesInACarriedFragmentAreKept) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  Read(splitter, std::string_view("\0\xff", 2));
  LineSplitter::Result result = Read(splitter, std::string_view("\0\n", 2));
  EXPECT_EQ(result.batch.bytes(), std::string_view("\0\xff\0\n", 4));
}

TEST(LineSplitterTest, FinishAppendsNewlineToTheFragment) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  Read(splitter, "{\"last\":1}");
  Batch last = splitter.finish();
  EXPECT_EQ(last.bytes(), "{\"last\":1}\n");
  EXPECT_EQ(last.lines(), 1u);
  EXPECT_EQ(splitter.carried(), 0u);
}

TEST(LineSplitterTest, FinishKeepsOnlyTheFragmentAfterTheLastNewline) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  EXPECT_EQ(Read(splitter, "a\nb").batch.bytes(), "a\n");
  Batch last = splitter.finish();
  EXPECT_EQ(last.bytes(), "b\n");
  EXPECT_EQ(last.lines(), 1u);
}

TEST(LineSplitterTest, FinishKeepsACarriedCr) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  Read(splitter, "a\r");
  EXPECT_EQ(splitter.finish().bytes(), "a\r\n");
}

TEST(LineSplitterTest, FinishWithNothingCarriedReturnsEmptyBatch) {
  LineSplitter fresh(kReadBytes, kNoLimit);
  Batch nothing = fresh.finish();
  EXPECT_TRUE(nothing.empty());
  EXPECT_EQ(nothing.lines(), 0u);

  LineSplitter splitter(kReadBytes, kNoLimit);
  Read(splitter, "a\n");
  Batch after_whole_lines = splitter.finish();
  EXPECT_TRUE(after_whole_lines.empty());
  EXPECT_EQ(after_whole_lines.lines(), 0u);
}

TEST(LineSplitterTest, FinishTwiceDoesNotRepeatTheFragment) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  Read(splitter, "tail");
  EXPECT_EQ(splitter.finish().bytes(), "tail\n");
  EXPECT_TRUE(splitter.finish().empty());
}

TEST(LineSplitterTest, LineLongerThanLimitIsRejected) {
  LineSplitter splitter(64, 10);
  LineSplitter::Result result = Read(splitter, "0123456789A\n");
  EXPECT_TRUE(result.line_too_long);
  EXPECT_TRUE(result.batch.empty());
}

TEST(LineSplitterTest, LineExactlyAtLimitIsAccepted) {
  LineSplitter splitter(64, 10);
  LineSplitter::Result result = Read(splitter, "0123456789\n");
  EXPECT_FALSE(result.line_too_long);
  EXPECT_EQ(result.batch.bytes(), "0123456789\n");
  EXPECT_EQ(result.batch.lines(), 1u);
}

TEST(LineSplitterTest, LimitExcludesTheNewlineButCountsCr) {
  LineSplitter at_limit(64, 10);
  EXPECT_FALSE(Read(at_limit, "012345678\r\n").line_too_long);
  LineSplitter over_limit(64, 10);
  EXPECT_TRUE(Read(over_limit, "0123456789\r\n").line_too_long);
}

TEST(LineSplitterTest, EmptyLinesPassWithTheSmallestLimit) {
  LineSplitter splitter(64, 1);
  LineSplitter::Result result = Read(splitter, "\na\n\n");
  EXPECT_FALSE(result.line_too_long);
  EXPECT_EQ(result.batch.bytes(), "\na\n\n");
  EXPECT_EQ(result.batch.lines(), 3u);
}

TEST(LineSplitterTest, LinesBeforeATooLongLineAreDelivered) {
  LineSplitter splitter(64, 10);
  LineSplitter::Result result = Read(splitter, "ok\nfine\n0123456789AB\nlater\n");
  EXPECT_TRUE(result.line_too_long);
  EXPECT_EQ(result.batch.bytes(), "ok\nfine\n");
  EXPECT_EQ(result.batch.lines(), 2u);
}

TEST(LineSplitterTest, LinesBeforeATooLongLineIncludeTheCarriedFragment) {
  LineSplitter splitter(64, 10);
  EXPECT_FALSE(Read(splitter, "ab").line_too_long);
  LineSplitter::Result result = Read(splitter, "c\n0123456789AB\n");
  EXPECT_TRUE(result.line_too_long);
  EXPECT_EQ(result.batch.bytes(), "abc\n");
  EXPECT_EQ(result.batch.lines(), 1u);
}

TEST(LineSplitterTest, LimitCountsTheCarriedFragment) {
  LineSplitter over(64, 10);
  EXPECT_FALSE(Read(over, "01234567").line_too_long);
  LineSplitter::Result rejected = Read(over, "89A\n");
  EXPECT_TRUE(rejected.line_too_long);
  EXPECT_TRUE(rejected.batch.empty());

  LineSplitter exact(64, 10);
  EXPECT_FALSE(Read(exact, "01234567").line_too_long);
  LineSplitter::Result accepted = Read(exact, "89\n");
  EXPECT_FALSE(accepted.line_too_long);
  EXPECT_EQ(accepted.batch.bytes(), "0123456789\n");
}

TEST(LineSplitterTest, OverlongLineWithoutNewlineIsDetectedOnceCarriedExceedsLimit) {
  LineSplitter splitter(64, 10);
  EXPECT_FALSE(Read(splitter, "01234").line_too_long);
  EXPECT_EQ(splitter.carried(), 5u);
  EXPECT_FALSE(Read(splitter, "56789").line_too_long);  // exactly at the limit: may still end
  EXPECT_EQ(splitter.carried(), 10u);
  LineSplitter::Result result = Read(splitter, "A");
  EXPECT_TRUE(result.line_too_long);
  EXPECT_TRUE(result.batch.empty());
}

TEST(LineSplitterTest, OverlongFragmentAfterWholeLinesIsDetectedInTheSameRead) {
  LineSplitter splitter(64, 10);
  LineSplitter::Result result = Read(splitter, "a\nb\n0123456789A");
  EXPECT_TRUE(result.line_too_long);
  EXPECT_EQ(result.batch.bytes(), "a\nb\n");
  EXPECT_EQ(result.batch.lines(), 2u);
}

TEST(LineSplitterTest, FragmentAtLimitCompletedByNewlineIsAccepted) {
  LineSplitter splitter(64, 10);
  EXPECT_FALSE(Read(splitter, "0123456789").line_too_long);
  LineSplitter::Result result = Read(splitter, "\nnext");
  EXPECT_FALSE(result.line_too_long);
  EXPECT_EQ(result.batch.bytes(), "0123456789\n");
  EXPECT_EQ(splitter.carried(), 4u);
}

TEST(LineSplitterTest, FragmentAtLimitIsFinishedWithNewline) {
  LineSplitter splitter(64, 10);
  EXPECT_FALSE(Read(splitter, "0123456789").line_too_long);
  EXPECT_EQ(splitter.finish().bytes(), "0123456789\n");
}

TEST(LineSplitterTest, LimitLargerThanReadBuffer) {
  // A 40-byte line arrives in reads of at most prepare() bytes and is still accepted.
  LineSplitter splitter(kReadBytes, 40);
  const std::string line = std::string(40, 'q') + "\n";
  Collected out;
  std::string_view rest = line;
  while (!rest.empty()) {
    std::size_t n = std::min(rest.size(), kReadBytes);
    LineSplitter::Result result = Read(splitter, rest.substr(0, n));
    EXPECT_FALSE(result.line_too_long);
    out.add(result.batch);
    rest.remove_prefix(n);
  }
  EXPECT_EQ(out.bytes, line);
}

TEST(LineSplitterTest, ByteByByteYieldsTheOriginalBytes) {
  std::mt19937 rng(20240601);
  const std::string stream = RandomStream(rng, 300, 40, /*trailing_fragment=*/true);
  LineSplitter splitter(kReadBytes, kNoLimit);
  Collected out;
  for (char c : stream) {
    LineSplitter::Result result = Read(splitter, std::string_view(&c, 1));
    ASSERT_FALSE(result.line_too_long);
    out.add(result.batch);
    // A batch appears exactly when a newline arrives.
    EXPECT_EQ(result.batch.empty(), c != '\n');
  }
  out.add(splitter.finish());
  EXPECT_EQ(out.bytes, ExpectedOutput(stream));
  EXPECT_EQ(out.lines, CountNewlines(stream) + 1);
}

TEST(LineSplitterTest, RandomChunksYieldTheOriginalBytes) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const bool fragment = round % 2 == 1;
    const std::string stream = RandomStream(rng, 200, 70, fragment);
    LineSplitter splitter(kReadBytes, kNoLimit);
    Collected out;
    std::size_t pos = 0;
    int reads = 0;
    while (pos < stream.size()) {
      ASSERT_LT(reads++, 100000) << "no progress";
      std::span<char> space = splitter.prepare();
      ASSERT_GE(space.size(), kReadBytes);
      std::uniform_int_distribution<std::size_t> size(1, space.size());
      std::size_t n = std::min(size(rng), stream.size() - pos);
      std::copy_n(stream.data() + pos, n, space.begin());
      pos += n;
      LineSplitter::Result result = splitter.commit(n);
      ASSERT_FALSE(result.line_too_long);
      out.add(result.batch);
      ASSERT_TRUE(std::string_view(stream).starts_with(out.bytes))
          << "bytes altered before " << pos;
      EXPECT_EQ(splitter.carried(), pos - out.bytes.size());
    }
    out.add(splitter.finish());
    EXPECT_EQ(out.bytes, ExpectedOutput(stream));
    EXPECT_EQ(out.lines, CountNewlines(ExpectedOutput(stream)));
  }
}

TEST(LineSplitterTest, RandomChunksWithLimitEqualToLongestLineAreAccepted) {
  std::mt19937 rng(99);
  std::string stream = RandomStream(rng, 300, 50, /*trailing_fragment=*/false);
  std::size_t longest = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    if (stream[i] == '\n') {
      longest = std::max(longest, i - start);
      start = i + 1;
    }
  }
  ASSERT_GT(longest, 0u);
  LineSplitter splitter(kReadBytes, longest);
  Collected out;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    std::span<char> space = splitter.prepare();
    ASSERT_GE(space.size(), kReadBytes);
    std::uniform_int_distribution<std::size_t> size(1, space.size());
    std::size_t n = std::min(size(rng), stream.size() - pos);
    std::copy_n(stream.data() + pos, n, space.begin());
    pos += n;
    LineSplitter::Result result = splitter.commit(n);
    ASSERT_FALSE(result.line_too_long) << "at stream offset " << pos;
    out.add(result.batch);
  }
  EXPECT_TRUE(splitter.finish().empty());
  EXPECT_EQ(out.bytes, stream);

  // One byte less and the longest line must be refused.
  LineSplitter strict(kReadBytes, longest - 1);
  bool refused = false;
  pos = 0;
  while (pos < stream.size() && !refused) {
    std::span<char> space = strict.prepare();
    std::size_t n = std::min(space.size(), stream.size() - pos);
    std::copy_n(stream.data() + pos, n, space.begin());
    pos += n;
    refused = strict.commit(n).line_too_long;
  }
  EXPECT_TRUE(refused);
}

// Reference model: the lines the splitter must deliver before it refuses a line longer than
// `max_line` (a trailing fragment counts when it is longer), and whether it must refuse one.
std::pair<std::string, bool> AcceptedPrefix(const std::string& stream, std::size_t max_line) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    if (stream[i] != '\n') continue;
    if (i - start > max_line) return {stream.substr(0, start), true};
    start = i + 1;
  }
  if (stream.size() - start > max_line) return {stream.substr(0, start), true};
  return {ExpectedOutput(stream), false};
}

TEST(LineSplitterTest, RandomStreamsMatchTheReferenceModel) {
  // Read sizes above and below the limit (the counting fast path and the exact scan), long
  // lines anywhere, and release() at random points as an idle client would call it.
  std::mt19937 rng(2026);
  for (int round = 0; round < 400; ++round) {
    std::uniform_int_distribution<std::size_t> pick(1, 200);
    const std::size_t read_bytes = pick(rng);
    const std::size_t max_line = pick(rng);
    const std::string stream = RandomStream(rng, 60, 2 * max_line, round % 3 == 0);
    SCOPED_TRACE(::testing::Message()
                 << "round " << round << " read_bytes " << read_bytes << " max_line " << max_line);
    const auto [expected, refuse] = AcceptedPrefix(stream, max_line);
    LineSplitter splitter(read_bytes, max_line);
    Collected out;
    bool refused = false;
    std::size_t pos = 0;
    while (pos < stream.size() && !refused) {
      std::span<char> space = splitter.prepare();
      ASSERT_GE(space.size(), read_bytes);
      std::uniform_int_distribution<std::size_t> size(1, space.size());
      const std::size_t n = std::min(size(rng), stream.size() - pos);
      std::copy_n(stream.data() + pos, n, space.begin());
      pos += n;
      LineSplitter::Result result = splitter.commit(n);
      out.add(result.batch);
      refused = result.line_too_long;
      if (!refused) {
        ASSERT_EQ(splitter.carried(), pos - out.bytes.size());
        if (rng() % 4 == 0) {
          splitter.release();
          ASSERT_EQ(splitter.capacity(), splitter.carried());
        }
      }
    }
    if (!refused) out.add(splitter.finish());
    EXPECT_EQ(refused, refuse);
    EXPECT_EQ(out.bytes, expected);
  }
}

TEST(LineSplitterTest, ReleaseKeepsOnlyTheCarriedFragment) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  EXPECT_EQ(Read(splitter, "abc\nde").batch.bytes(), "abc\n");
  EXPECT_GE(splitter.capacity(), kReadBytes);
  splitter.release();
  EXPECT_EQ(splitter.capacity(), 2u);
  EXPECT_EQ(Read(splitter, "f\n").batch.bytes(), "def\n");
  splitter.release();
  EXPECT_EQ(splitter.capacity(), 0u);
  EXPECT_EQ(Read(splitter, "g\n").batch.bytes(), "g\n");
}

TEST(LineSplitterTest, AFullReadBecomesTheBatchWithoutACopy) {
  LineSplitter splitter(kReadBytes, kNoLimit);
  std::span<char> space = splitter.prepare();
  const std::string lines = "0123456\n0123456\n";
  ASSERT_EQ(lines.size(), kReadBytes);
  std::copy(lines.begin(), lines.end(), space.begin());
  LineSplitter::Result result = splitter.commit(lines.size());
  EXPECT_EQ(result.batch.bytes(), lines);
  EXPECT_EQ(result.batch.bytes().data(), space.data());
  EXPECT_EQ(result.batch.lines(), 2u);
}

TEST(LineSplitterTest, AfterHandingOverItsBlockItHoldsOnlyTheFragment) {
  constexpr std::size_t kBig = 64 * 1024;
  LineSplitter splitter(kBig, kNoLimit);
  std::span<char> space = splitter.prepare();
  const std::string lines = std::string(kBig - 10, 'x') + "\nfrag";
  std::copy(lines.begin(), lines.end(), space.begin());
  LineSplitter::Result result = splitter.commit(lines.size());
  EXPECT_EQ(result.batch.bytes(), lines.substr(0, kBig - 9));
  EXPECT_EQ(result.batch.bytes().data(), space.data());
  // Until the next read only the fragment is held: a session waiting for room in the queue
  // does not pin a read block.
  EXPECT_EQ(splitter.carried(), 4u);
  EXPECT_EQ(splitter.capacity(), 4u);
  space = splitter.prepare();
  EXPECT_GE(space.size(), kBig);
  const std::string end = "ment\n";
  std::copy(end.begin(), end.end(), space.begin());
  EXPECT_EQ(splitter.commit(end.size()).batch.bytes(), "fragment\n");
}

// Every implementation, so the one this CPU does not pick is tested too.
class CountNewlinesTest : public ::testing::TestWithParam<std::size_t (*)(std::string_view)> {};

TEST_P(CountNewlinesTest, MatchesStdCountAtEveryLengthAndAlignment) {
  std::mt19937 rng(5);
  std::string bytes(1200, 'x');
  for (char& c : bytes) c = rng() % 5 == 0 ? '\n' : static_cast<char>(rng());
  for (std::size_t offset = 0; offset < 33; ++offset) {
    for (std::size_t length = 0; offset + length <= bytes.size(); length += 1 + length / 64) {
      std::string_view view(bytes.data() + offset, length);
      ASSERT_EQ(GetParam()(view), CountNewlines(view)) << offset << "+" << length;
    }
  }
}

TEST_P(CountNewlinesTest, CountsPastTheByteLaneLimit) {
  // A byte lane counts to 255; all-newline input makes every lane reach its limit.
  for (std::size_t length : {4079u, 4080u, 4081u, 8064u, 8065u, 65536u, 70001u}) {
    EXPECT_EQ(GetParam()(std::string(length, '\n')), length) << length;
  }
}

INSTANTIATE_TEST_SUITE_P(Dispatch, CountNewlinesTest, ::testing::Values(&count_newlines));
INSTANTIATE_TEST_SUITE_P(Sse2, CountNewlinesTest, ::testing::Values(&detail::count_newlines_sse2));
#if defined(__x86_64__)
INSTANTIATE_TEST_SUITE_P(Avx2, CountNewlinesTest,
                         ::testing::Values(detail::has_avx2() ? &detail::count_newlines_avx2
                                                              : &count_newlines));
#endif

}  // namespace
}  // namespace jsontcplb
