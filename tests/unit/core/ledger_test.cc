#include "dataplane/core/ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/core/test_printers.h"

namespace jsontcplb {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Batch MakeBatch(std::string bytes) {
  std::size_t lines = static_cast<std::size_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  return Batch(std::move(bytes), lines);
}

std::vector<std::string> Contents(const std::vector<Batch>& batches) {
  std::vector<std::string> out;
  for (const Batch& b : batches) out.emplace_back(b.bytes());
  return out;
}

// Three batches written back to back from offset 0: ends at 10, 15 and 22.
class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest() {
    ledger_.record(MakeBatch("a\nb\nc\nddd\n"), 10);  // 10 bytes, 4 lines
    ledger_.record(MakeBatch("eeee\n"), 15);          // 5 bytes, 1 line
    ledger_.record(MakeBatch("ff\ngg\n\n"), 22);      // 7 bytes, 3 lines
  }
  Ledger ledger_;
};

TEST(LedgerEmptyTest, StartsEmpty) {
  Ledger ledger;
  EXPECT_TRUE(ledger.empty());
  EXPECT_EQ(ledger.bytes(), 0u);
  EXPECT_EQ(ledger.lines(), 0u);
  Ledger::Released released = ledger.release(100);
  EXPECT_EQ(released.batches, 0u);
  EXPECT_EQ(released.bytes, 0u);
  EXPECT_EQ(released.lines, 0u);
  EXPECT_THAT(ledger.take_all(), IsEmpty());
}

TEST_F(LedgerTest, RecordCountsBytesAndLines) {
  EXPECT_FALSE(ledger_.empty());
  EXPECT_EQ(ledger_.bytes(), 22u);
  EXPECT_EQ(ledger_.lines(), 8u);
}

TEST_F(LedgerTest, ReleaseBeforeTheFirstEndReleasesNothing) {
  Ledger::Released released = ledger_.release(9);
  EXPECT_EQ(released.batches, 0u);
  EXPECT_EQ(released.bytes, 0u);
  EXPECT_EQ(released.lines, 0u);
  EXPECT_EQ(ledger_.bytes(), 22u);
  EXPECT_EQ(ledger_.lines(), 8u);
}

TEST_F(LedgerTest, ReleaseAtZeroReleasesNothing) {
  EXPECT_EQ(ledger_.release(0).batches, 0u);
  EXPECT_EQ(ledger_.bytes(), 22u);
}

TEST_F(LedgerTest, ReleaseAtExactlyTheEndOffsetReleasesThatBatch) {
  Ledger::Released released = ledger_.release(10);
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 10u);
  EXPECT_EQ(released.lines, 4u);
  EXPECT_EQ(ledger_.bytes(), 12u);
  EXPECT_EQ(ledger_.lines(), 4u);
  EXPECT_THAT(Contents(ledger_.take_all()), ElementsAre("eeee\n", "ff\ngg\n\n"));
}

TEST_F(LedgerTest, PartialAckKeepsThePartlyAcknowledgedBatch) {
  Ledger::Released released = ledger_.release(14);  // batch 2 ends at 15
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 10u);
  EXPECT_EQ(ledger_.bytes(), 12u);
  EXPECT_EQ(ledger_.lines(), 4u);
  EXPECT_THAT(Contents(ledger_.take_all()), ElementsAre("eeee\n", "ff\ngg\n\n"));
}

TEST_F(LedgerTest, ReleaseSpanningSeveralBatches) {
  Ledger::Released released = ledger_.release(15);
  EXPECT_EQ(released.batches, 2u);
  EXPECT_EQ(released.bytes, 15u);
  EXPECT_EQ(released.lines, 5u);
  EXPECT_EQ(ledger_.bytes(), 7u);
  EXPECT_EQ(ledger_.lines(), 3u);
}

TEST_F(LedgerTest, ReleaseInSteps) {
  EXPECT_EQ(ledger_.release(3).batches, 0u);
  EXPECT_EQ(ledger_.release(10).batches, 1u);
  EXPECT_EQ(ledger_.release(12).batches, 0u);
  Ledger::Released released = ledger_.release(21);
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 5u);
  EXPECT_EQ(released.lines, 1u);
  released = ledger_.release(22);
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 7u);
  EXPECT_EQ(released.lines, 3u);
  EXPECT_TRUE(ledger_.empty());
  EXPECT_EQ(ledger_.bytes(), 0u);
  EXPECT_EQ(ledger_.lines(), 0u);
}

TEST_F(LedgerTest, ReleaseBeyondTheLastEndReleasesEverything) {
  Ledger::Released released = ledger_.release(1000);
  EXPECT_EQ(released.batches, 3u);
  EXPECT_EQ(released.bytes, 22u);
  EXPECT_EQ(released.lines, 8u);
  EXPECT_TRUE(ledger_.empty());
  EXPECT_THAT(ledger_.take_all(), IsEmpty());
}

TEST_F(LedgerTest, ReleaseWithAnOlderOffsetIsHarmless) {
  EXPECT_EQ(ledger_.release(15).batches, 2u);
  Ledger::Released again = ledger_.release(10);
  EXPECT_EQ(again.batches, 0u);
  EXPECT_EQ(again.bytes, 0u);
  EXPECT_EQ(ledger_.bytes(), 7u);
}

TEST_F(LedgerTest, TakeAllReturnsRemainingOldestFirstAndEmpties) {
  std::vector<Batch> all = ledger_.take_all();
  EXPECT_THAT(Contents(all), ElementsAre("a\nb\nc\nddd\n", "eeee\n", "ff\ngg\n\n"));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].lines(), 4u);
  EXPECT_EQ(all[2].lines(), 3u);
  EXPECT_TRUE(ledger_.empty());
  EXPECT_EQ(ledger_.bytes(), 0u);
  EXPECT_EQ(ledger_.lines(), 0u);
  EXPECT_THAT(ledger_.take_all(), IsEmpty());
}

TEST_F(LedgerTest, TakeAllAfterPartialRelease) {
  ledger_.release(10);
  EXPECT_THAT(Contents(ledger_.take_all()), ElementsAre("eeee\n", "ff\ngg\n\n"));
}

TEST_F(LedgerTest, UsableAgainAfterTakeAll) {
  ledger_.take_all();
  ledger_.record(MakeBatch("z\n"), 30);
  EXPECT_EQ(ledger_.bytes(), 2u);
  EXPECT_EQ(ledger_.lines(), 1u);
  EXPECT_EQ(ledger_.release(29).batches, 0u);
  EXPECT_EQ(ledger_.release(30).batches, 1u);
  EXPECT_TRUE(ledger_.empty());
}

TEST(LedgerWireTest, ReleasedCountsPayloadBytesNotWireBytes) {
  // With TLS the wire offsets count ciphertext, which is larger than the payload.
  Ledger ledger;
  ledger.record(MakeBatch("abc\n"), 100);
  ledger.record(MakeBatch("de\n"), 180);
  EXPECT_EQ(ledger.bytes(), 7u);
  EXPECT_EQ(ledger.release(99).batches, 0u);
  Ledger::Released released = ledger.release(100);
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 4u);
  EXPECT_EQ(released.lines, 1u);
  EXPECT_EQ(ledger.bytes(), 3u);
  released = ledger.release(180);
  EXPECT_EQ(released.bytes, 3u);
  EXPECT_TRUE(ledger.empty());
}

TEST(LedgerWireTest, LargeOffsetsBeyond32Bits) {
  Ledger ledger;
  const std::uint64_t base = std::uint64_t{5} << 32;
  ledger.record(MakeBatch("x\n"), base + 2);
  ledger.record(MakeBatch("y\n"), base + 4);
  EXPECT_EQ(ledger.release(base + 3).batches, 1u);
  EXPECT_EQ(ledger.release(2).batches, 0u);  // low 32 bits alone must not release anything
  EXPECT_THAT(Contents(ledger.take_all()), ElementsAre("y\n"));
}

}  // namespace
}  // namespace jsontcplb

namespace jsontcplb {
namespace {

Batch lines_batch(std::string text) {
  auto n = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  return Batch(std::move(text), n);
}

TEST(LedgerTakeUnacked, ExactOffsetsCutAPartlyAcknowledgedBatchAfterItsLastWholeLine) {
  Ledger ledger(/*exact_offsets=*/true);
  ledger.record(lines_batch("aa\nbb\n"), 6);        // wire [0, 6)
  ledger.record(lines_batch("ccc\ndd\nee\n"), 16);  // wire [6, 16)
  ledger.record(lines_batch("ff\n"), 19);           // wire [16, 19)
  // Acknowledged up to the middle of "dd": "ccc\n" arrived whole, "dd" did not.
  Ledger::Unacked u = ledger.take_unacked(12);
  EXPECT_EQ(u.delivered.lines, 3u);   // aa, bb, ccc
  EXPECT_EQ(u.delivered.bytes, 10u);  // "aa\nbb\n" + "ccc\n"
  ASSERT_EQ(u.batches.size(), 2u);
  EXPECT_EQ(u.batches[0].bytes(), "dd\nee\n");
  EXPECT_EQ(u.batches[0].lines(), 2u);
  EXPECT_EQ(u.batches[1].bytes(), "ff\n");
  EXPECT_TRUE(ledger.empty());
  EXPECT_EQ(ledger.bytes(), 0u);
  EXPECT_EQ(ledger.lines(), 0u);
}

TEST(LedgerTakeUnacked, AckEndingExactlyAfterANewlineKeepsThatLine) {
  Ledger ledger(true);
  ledger.record(lines_batch("ab\ncd\n"), 6);
  Ledger::Unacked u = ledger.take_unacked(3);
  EXPECT_EQ(u.delivered.lines, 1u);
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "cd\n");
}

TEST(LedgerTakeUnacked, AckInsideTheFirstLineResendsTheWholeBatch) {
  Ledger ledger(true);
  ledger.record(lines_batch("abcdef\ngh\n"), 10);
  Ledger::Unacked u = ledger.take_unacked(4);
  EXPECT_EQ(u.delivered.lines, 0u);
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "abcdef\ngh\n");
}

TEST(LedgerTakeUnacked, WithoutExactOffsetsOnlyWholeBatchesCount) {
  Ledger ledger(false);  // TLS: offsets are ciphertext
  ledger.record(lines_batch("aa\nbb\n"), 40);
  ledger.record(lines_batch("cc\n"), 80);
  Ledger::Unacked u = ledger.take_unacked(60);
  EXPECT_EQ(u.delivered.lines, 2u);
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "cc\n");
}

TEST(LedgerTakeUnacked, OffsetsContinueAfterEarlierReleases) {
  Ledger ledger(true);
  ledger.record(lines_batch("aa\n"), 3);
  ledger.record(lines_batch("bb\ncc\n"), 9);
  ledger.release(3);
  Ledger::Unacked u = ledger.take_unacked(6);  // "bb\n" acknowledged
  EXPECT_EQ(u.delivered.lines, 1u);
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "cc\n");
}

// --- record_write: the offsets of one gather write --------------------------------------------

std::vector<Batch> batches(std::vector<std::string> texts) {
  std::vector<Batch> out;
  for (auto& t : texts) out.push_back(MakeBatch(std::move(t)));
  return out;
}

TEST(LedgerRecordWrite, ExactOffsetsEndEachBatchWhereItsBytesEnd) {
  Ledger ledger(/*exact_offsets=*/true);
  ledger.record_write(batches({"aa\n", "bbbb\n"}), 100, 108, /*complete=*/true);
  EXPECT_EQ(ledger.bytes(), 8u);
  EXPECT_EQ(ledger.lines(), 2u);
  EXPECT_EQ(ledger.release(102).batches, 0u);
  EXPECT_EQ(ledger.release(103).batches, 1u);  // "aa\n" ends at 103
  EXPECT_EQ(ledger.release(107).batches, 0u);
  EXPECT_EQ(ledger.release(108).batches, 1u);
  EXPECT_TRUE(ledger.empty());
}

TEST(LedgerRecordWrite, ExactOffsetsOfAFailedWriteStillCountWhatWasAcknowledged) {
  // Only the first batch and a part of the second reached the wire before the write failed.
  Ledger ledger(/*exact_offsets=*/true);
  ledger.record_write(batches({"aa\n", "b\nc\n"}), 0, 5, /*complete=*/false);
  Ledger::Unacked u = ledger.take_unacked(5);
  EXPECT_EQ(u.delivered.lines, 2u) << "aa and b were acknowledged whole";
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "c\n");
}

TEST(LedgerRecordWrite, WithoutExactOffsetsEveryBatchEndsWhereTheWriteEnded) {
  // TLS: the wire carries records, so only the end of the whole write is known.
  Ledger ledger(/*exact_offsets=*/false);
  ledger.record_write(batches({"aa\n", "bb\n"}), 0, 90, /*complete=*/true);
  EXPECT_EQ(ledger.release(89).batches, 0u);
  EXPECT_EQ(ledger.release(90).batches, 2u);
}

TEST(LedgerRecordWrite, AFailedWriteWithoutExactOffsetsIsNeverAcknowledged) {
  Ledger ledger(/*exact_offsets=*/false);
  ledger.record_write(batches({"aa\n"}), 0, 40, /*complete=*/true);
  ledger.record_write(batches({"bb\n", "cc\n"}), 40, 70, /*complete=*/false);
  Ledger::Unacked u = ledger.take_unacked(1'000'000);
  EXPECT_EQ(u.delivered.lines, 1u);
  EXPECT_THAT(Contents(u.batches), ElementsAre("bb\n", "cc\n"));
}

}  // namespace
}  // namespace jsontcplb
