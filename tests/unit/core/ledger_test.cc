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

constexpr std::size_t kAll = ~std::size_t{0};  // no bound on what is retained

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
  Ledger::Lines released = ledger.acknowledge(100, 0, kAll).acked;
  EXPECT_EQ(released.batches, 0u);
  EXPECT_EQ(released.bytes, 0u);
  EXPECT_EQ(released.lines, 0u);
  EXPECT_THAT(ledger.take_unread(0, 0).batches, IsEmpty());
}

TEST_F(LedgerTest, RecordCountsBytesAndLines) {
  EXPECT_FALSE(ledger_.empty());
  EXPECT_EQ(ledger_.bytes(), 22u);
  EXPECT_EQ(ledger_.lines(), 8u);
}

TEST_F(LedgerTest, ReleaseBeforeTheFirstEndReleasesNothing) {
  Ledger::Lines released = ledger_.acknowledge(9, 0, kAll).acked;
  EXPECT_EQ(released.batches, 0u);
  EXPECT_EQ(released.bytes, 0u);
  EXPECT_EQ(released.lines, 0u);
  EXPECT_EQ(ledger_.bytes(), 22u);
  EXPECT_EQ(ledger_.lines(), 8u);
}

TEST_F(LedgerTest, ReleaseAtZeroReleasesNothing) {
  EXPECT_EQ(ledger_.acknowledge(0, 0, kAll).acked.batches, 0u);
  EXPECT_EQ(ledger_.bytes(), 22u);
}

TEST_F(LedgerTest, ReleaseAtExactlyTheEndOffsetReleasesThatBatch) {
  Ledger::Lines released = ledger_.acknowledge(10, 0, kAll).acked;
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 10u);
  EXPECT_EQ(released.lines, 4u);
  EXPECT_EQ(ledger_.bytes(), 12u);
  EXPECT_EQ(ledger_.lines(), 4u);
  EXPECT_THAT(Contents(ledger_.take_unread(0, 0).batches), ElementsAre("eeee\n", "ff\ngg\n\n"));
}

TEST_F(LedgerTest, PartialAckKeepsThePartlyAcknowledgedBatch) {
  Ledger::Lines released = ledger_.acknowledge(14, 0, kAll).acked;  // batch 2 ends at 15
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 10u);
  EXPECT_EQ(ledger_.bytes(), 12u);
  EXPECT_EQ(ledger_.lines(), 4u);
  EXPECT_THAT(Contents(ledger_.take_unread(0, 0).batches), ElementsAre("eeee\n", "ff\ngg\n\n"));
}

TEST_F(LedgerTest, ReleaseSpanningSeveralBatches) {
  Ledger::Lines released = ledger_.acknowledge(15, 0, kAll).acked;
  EXPECT_EQ(released.batches, 2u);
  EXPECT_EQ(released.bytes, 15u);
  EXPECT_EQ(released.lines, 5u);
  EXPECT_EQ(ledger_.bytes(), 7u);
  EXPECT_EQ(ledger_.lines(), 3u);
}

TEST_F(LedgerTest, ReleaseInSteps) {
  EXPECT_EQ(ledger_.acknowledge(3, 0, kAll).acked.batches, 0u);
  EXPECT_EQ(ledger_.acknowledge(10, 0, kAll).acked.batches, 1u);
  EXPECT_EQ(ledger_.acknowledge(12, 0, kAll).acked.batches, 0u);
  Ledger::Lines released = ledger_.acknowledge(21, 0, kAll).acked;
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 5u);
  EXPECT_EQ(released.lines, 1u);
  released = ledger_.acknowledge(22, 0, kAll).acked;
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 7u);
  EXPECT_EQ(released.lines, 3u);
  EXPECT_TRUE(ledger_.empty());
  EXPECT_EQ(ledger_.bytes(), 0u);
  EXPECT_EQ(ledger_.lines(), 0u);
}

TEST_F(LedgerTest, ReleaseBeyondTheLastEndReleasesEverything) {
  Ledger::Lines released = ledger_.acknowledge(1000, 0, kAll).acked;
  EXPECT_EQ(released.batches, 3u);
  EXPECT_EQ(released.bytes, 22u);
  EXPECT_EQ(released.lines, 8u);
  EXPECT_TRUE(ledger_.empty());
  EXPECT_THAT(ledger_.take_unread(0, 0).batches, IsEmpty());
}

TEST_F(LedgerTest, ReleaseWithAnOlderOffsetIsHarmless) {
  EXPECT_EQ(ledger_.acknowledge(15, 0, kAll).acked.batches, 2u);
  Ledger::Lines again = ledger_.acknowledge(10, 0, kAll).acked;
  EXPECT_EQ(again.batches, 0u);
  EXPECT_EQ(again.bytes, 0u);
  EXPECT_EQ(ledger_.bytes(), 7u);
}

TEST_F(LedgerTest, TakeAllReturnsRemainingOldestFirstAndEmpties) {
  std::vector<Batch> all = ledger_.take_unread(0, 0).batches;
  EXPECT_THAT(Contents(all), ElementsAre("a\nb\nc\nddd\n", "eeee\n", "ff\ngg\n\n"));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].lines(), 4u);
  EXPECT_EQ(all[2].lines(), 3u);
  EXPECT_TRUE(ledger_.empty());
  EXPECT_EQ(ledger_.bytes(), 0u);
  EXPECT_EQ(ledger_.lines(), 0u);
  EXPECT_THAT(ledger_.take_unread(0, 0).batches, IsEmpty());
}

TEST_F(LedgerTest, TakeAllAfterPartialRelease) {
  ledger_.acknowledge(10, 0, kAll);
  EXPECT_THAT(Contents(ledger_.take_unread(0, 0).batches), ElementsAre("eeee\n", "ff\ngg\n\n"));
}

TEST_F(LedgerTest, UsableAgainAfterTakeAll) {
  ledger_.take_unread(0, 0);
  ledger_.record(MakeBatch("z\n"), 30);
  EXPECT_EQ(ledger_.bytes(), 2u);
  EXPECT_EQ(ledger_.lines(), 1u);
  EXPECT_EQ(ledger_.acknowledge(29, 0, kAll).acked.batches, 0u);
  EXPECT_EQ(ledger_.acknowledge(30, 0, kAll).acked.batches, 1u);
  EXPECT_TRUE(ledger_.empty());
}

TEST(LedgerWireTest, ReleasedCountsPayloadBytesNotWireBytes) {
  // With TLS the wire offsets count ciphertext, which is larger than the payload.
  Ledger ledger;
  ledger.record(MakeBatch("abc\n"), 100);
  ledger.record(MakeBatch("de\n"), 180);
  EXPECT_EQ(ledger.bytes(), 7u);
  EXPECT_EQ(ledger.acknowledge(99, 0, kAll).acked.batches, 0u);
  Ledger::Lines released = ledger.acknowledge(100, 0, kAll).acked;
  EXPECT_EQ(released.batches, 1u);
  EXPECT_EQ(released.bytes, 4u);
  EXPECT_EQ(released.lines, 1u);
  EXPECT_EQ(ledger.bytes(), 3u);
  released = ledger.acknowledge(180, 0, kAll).acked;
  EXPECT_EQ(released.bytes, 3u);
  EXPECT_TRUE(ledger.empty());
}

TEST(LedgerWireTest, LargeOffsetsBeyond32Bits) {
  Ledger ledger;
  const std::uint64_t base = std::uint64_t{5} << 32;
  ledger.record(MakeBatch("x\n"), base + 2);
  ledger.record(MakeBatch("y\n"), base + 4);
  EXPECT_EQ(ledger.acknowledge(base + 3, 0, kAll).acked.batches, 1u);
  EXPECT_EQ(ledger.acknowledge(2, 0, kAll).acked.batches,
            0u);  // low 32 bits alone must not release anything
  EXPECT_THAT(Contents(ledger.take_unread(0, 0).batches), ElementsAre("y\n"));
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
  Ledger::Resend u = ledger.take_unread(12, 0);
  EXPECT_EQ(u.acked.lines, 3u);   // aa, bb, ccc
  EXPECT_EQ(u.acked.bytes, 10u);  // "aa\nbb\n" + "ccc\n"
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
  Ledger::Resend u = ledger.take_unread(3, 0);
  EXPECT_EQ(u.acked.lines, 1u);
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "cd\n");
}

TEST(LedgerTakeUnacked, AckInsideTheFirstLineResendsTheWholeBatch) {
  Ledger ledger(true);
  ledger.record(lines_batch("abcdef\ngh\n"), 10);
  Ledger::Resend u = ledger.take_unread(4, 0);
  EXPECT_EQ(u.acked.lines, 0u);
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "abcdef\ngh\n");
}

TEST(LedgerTakeUnacked, WithoutExactOffsetsOnlyWholeBatchesCount) {
  Ledger ledger(false);  // TLS: offsets are ciphertext
  ledger.record(lines_batch("aa\nbb\n"), 40);
  ledger.record(lines_batch("cc\n"), 80);
  Ledger::Resend u = ledger.take_unread(60, 0);
  EXPECT_EQ(u.acked.lines, 2u);
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "cc\n");
}

TEST(LedgerTakeUnacked, OffsetsContinueAfterEarlierReleases) {
  Ledger ledger(true);
  ledger.record(lines_batch("aa\n"), 3);
  ledger.record(lines_batch("bb\ncc\n"), 9);
  ledger.acknowledge(3, 0, kAll);
  Ledger::Resend u = ledger.take_unread(6, 0);  // "bb\n" acknowledged
  EXPECT_EQ(u.acked.lines, 1u);
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
  EXPECT_EQ(ledger.acknowledge(102, 0, kAll).acked.batches, 0u);
  EXPECT_EQ(ledger.acknowledge(103, 0, kAll).acked.batches, 1u);  // "aa\n" ends at 103
  EXPECT_EQ(ledger.acknowledge(107, 0, kAll).acked.batches, 0u);
  EXPECT_EQ(ledger.acknowledge(108, 0, kAll).acked.batches, 1u);
  EXPECT_TRUE(ledger.empty());
}

TEST(LedgerRecordWrite, ExactOffsetsOfAFailedWriteStillCountWhatWasAcknowledged) {
  // Only the first batch and a part of the second reached the wire before the write failed.
  Ledger ledger(/*exact_offsets=*/true);
  ledger.record_write(batches({"aa\n", "b\nc\n"}), 0, 5, /*complete=*/false);
  Ledger::Resend u = ledger.take_unread(5, 0);
  EXPECT_EQ(u.acked.lines, 2u) << "aa and b were acknowledged whole";
  ASSERT_EQ(u.batches.size(), 1u);
  EXPECT_EQ(u.batches[0].bytes(), "c\n");
}

TEST(LedgerRecordWrite, WithoutExactOffsetsEveryBatchEndsWhereTheWriteEnded) {
  // TLS: the wire carries records, so only the end of the whole write is known.
  Ledger ledger(/*exact_offsets=*/false);
  ledger.record_write(batches({"aa\n", "bb\n"}), 0, 90, /*complete=*/true);
  EXPECT_EQ(ledger.acknowledge(89, 0, kAll).acked.batches, 0u);
  EXPECT_EQ(ledger.acknowledge(90, 0, kAll).acked.batches, 2u);
}

TEST(LedgerRecordWrite, AFailedWriteWithoutExactOffsetsIsNeverAcknowledged) {
  Ledger ledger(/*exact_offsets=*/false);
  ledger.record_write(batches({"aa\n"}), 0, 40, /*complete=*/true);
  ledger.record_write(batches({"bb\n", "cc\n"}), 40, 70, /*complete=*/false);
  Ledger::Resend u = ledger.take_unread(1'000'000, 0);
  EXPECT_EQ(u.acked.lines, 1u);
  EXPECT_THAT(Contents(u.batches), ElementsAre("bb\n", "cc\n"));
}

// --- retention: acknowledged is not yet read ---------------------------------------------

TEST_F(LedgerTest, AcknowledgedBatchesStayWhileTheTargetMayHoldThemUnread) {
  // Acknowledged to 15, of which the last 6 bytes may be unread: [9, 15) overlaps batches 1, 2.
  Ledger::Progress p = ledger_.acknowledge(15, 6, kAll);
  EXPECT_EQ(p.acked.batches, 2u);
  EXPECT_EQ(p.acked.lines, 5u);
  EXPECT_EQ(ledger_.retained_bytes(), 15u);
  EXPECT_EQ(ledger_.retained_lines(), 5u);
  EXPECT_EQ(ledger_.unacked_bytes(), 7u);
  EXPECT_EQ(ledger_.bytes(), 22u);
  // Its window opened: [0, 10) is read, batch 1 goes; batch 2 (ends at 15) stays.
  p = ledger_.acknowledge(15, 5, kAll);
  EXPECT_EQ(p.acked.batches, 0u) << "acknowledged once, credited once";
  EXPECT_EQ(ledger_.retained_bytes(), 5u);
  p = ledger_.acknowledge(22, 0, kAll);
  EXPECT_EQ(p.acked.batches, 1u);
  EXPECT_TRUE(ledger_.empty());
  EXPECT_EQ(ledger_.bytes(), 0u);
}

TEST_F(LedgerTest, RetainedBeyondTheBoundGoesOldestFirstAndIsCounted) {
  Ledger::Progress p = ledger_.acknowledge(22, 22, /*max_retained=*/12);
  EXPECT_EQ(p.acked.batches, 3u);
  EXPECT_EQ(p.beyond_bound.batches, 1u);  // 22 bytes retained > 12: the first batch (10) goes
  EXPECT_EQ(p.beyond_bound.lines, 4u);
  EXPECT_EQ(ledger_.retained_bytes(), 12u);
  EXPECT_THAT(Contents(ledger_.take_unread(22, 22).batches), ElementsAre("eeee\n", "ff\ngg\n\n"));
}

TEST_F(LedgerTest, UnreadLargerThanWhatWasAcknowledgedKeepsEverything) {
  ledger_.acknowledge(10, 1000, kAll);
  EXPECT_EQ(ledger_.retained_bytes(), 10u);
  EXPECT_EQ(ledger_.unacked_bytes(), 12u);
}

TEST(LedgerTakeUnread, SendsAgainFromTheFirstLineTheTargetMayNotHaveReadToTheLine) {
  Ledger ledger(/*exact_offsets=*/true);
  ledger.record(lines_batch("aa\nbb\n"), 6);        // wire [0, 6)
  ledger.record(lines_batch("ccc\ndd\nee\n"), 16);  // wire [6, 16)
  ledger.record(lines_batch("ff\n"), 19);           // wire [16, 19)
  ledger.acknowledge(6, 0, kAll);                   // "aa\nbb\n" read: gone
  // Acknowledged to 14 (inside "ee"), and the last 3 of those perhaps unread: read up to 11,
  // the middle of "dd". "ccc" was read whole; "dd" in part.
  Ledger::Resend r = ledger.take_unread(14, 3);
  EXPECT_EQ(r.acked.lines, 2u) << "ccc and dd were acknowledged whole";
  EXPECT_THAT(Contents(r.batches), ElementsAre("dd\n", "ee\n", "ff\n"));
  EXPECT_EQ(r.maybe_unread_lines, 1u);  // dd
  EXPECT_EQ(r.unacked_lines, 2u);       // ee (acknowledged in part), ff
  EXPECT_TRUE(ledger.empty());
  EXPECT_EQ(ledger.bytes(), 0u);
  EXPECT_EQ(ledger.lines(), 0u);
}

TEST(LedgerTakeUnread, NothingUnreadAndEverythingAcknowledgedSendsNothing) {
  Ledger ledger(true);
  ledger.record(lines_batch("aa\nbb\n"), 6);
  ledger.record(lines_batch("cc\n"), 9);
  Ledger::Resend r = ledger.take_unread(9, 0);
  EXPECT_THAT(r.batches, IsEmpty());
  EXPECT_EQ(r.acked.lines, 3u);
  EXPECT_EQ(r.maybe_unread_lines + r.unacked_lines, 0u);
}

TEST(LedgerTakeUnread, RetainedLinesAreCreditedOnceAndSentAgainWhenPerhapsUnread) {
  Ledger ledger(true);
  ledger.record(lines_batch("aa\nbb\n"), 6);
  EXPECT_EQ(ledger.acknowledge(6, 6, kAll).acked.lines, 2u);
  Ledger::Resend r = ledger.take_unread(6, 3);  // read to 3: "aa\n" read, "bb\n" perhaps not
  EXPECT_EQ(r.acked.lines, 0u) << "credited when acknowledged, not again";
  EXPECT_THAT(Contents(r.batches), ElementsAre("bb\n"));
  EXPECT_EQ(r.maybe_unread_lines, 1u);
  EXPECT_EQ(r.unacked_lines, 0u);
}

TEST(LedgerTakeUnread, WithoutExactOffsetsABatchTheTargetMayHaveReadInPartGoesWhole) {
  Ledger ledger(false);  // TLS: ciphertext offsets, one end per write
  ledger.record_write(batches({"aa\n", "bb\n"}), 0, 40, true);
  ledger.record_write(batches({"cc\n"}), 40, 80, true);
  ledger.record_write(batches({"dd\n"}), 80, 120, true);
  // Acknowledged to 100, perhaps unread from 30: the first write may be read only in part.
  Ledger::Resend r = ledger.take_unread(100, 70);
  EXPECT_EQ(r.acked.lines, 3u);
  EXPECT_THAT(Contents(r.batches), ElementsAre("aa\n", "bb\n", "cc\n", "dd\n"));
  EXPECT_EQ(r.maybe_unread_lines, 3u);
  EXPECT_EQ(r.unacked_lines, 1u);
}

TEST(LedgerTakeUnread, SplittingARetainedBatchKeepsTheCountsRight) {
  Ledger ledger(true);
  ledger.record(lines_batch("a\nb\nc\n"), 6);
  ledger.record(lines_batch("d\n"), 8);
  ledger.acknowledge(8, 8, kAll);  // both retained
  EXPECT_EQ(ledger.retained_lines(), 4u);
  Ledger::Resend r = ledger.take_unread(8, 3);  // read to 5: a, b whole; c in part
  EXPECT_THAT(Contents(r.batches), ElementsAre("c\n", "d\n"));
  EXPECT_EQ(r.maybe_unread_lines, 2u);
  EXPECT_EQ(r.unacked_lines, 0u);
  EXPECT_EQ(ledger.retained_bytes(), 0u);
  EXPECT_EQ(ledger.unacked_bytes(), 0u);
}

}  // namespace
}  // namespace jsontcplb
