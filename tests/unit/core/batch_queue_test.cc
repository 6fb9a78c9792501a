#include "dataplane/core/batch_queue.h"

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

std::vector<std::string> Drain(BatchQueue& queue) {
  std::vector<std::string> out;
  for (int i = 0; i < 1000 && !queue.empty(); ++i) {
    for (std::string& s : Contents(queue.pop(1))) out.push_back(std::move(s));
  }
  EXPECT_TRUE(queue.empty());
  return out;
}

TEST(BatchQueueTest, StartsEmpty) {
  BatchQueue queue(100);
  EXPECT_TRUE(queue.empty());
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.lines(), 0u);
  EXPECT_EQ(queue.batches(), 0u);
  EXPECT_EQ(queue.capacity_bytes(), 100u);
}

TEST(BatchQueueTest, PushBackCountsBytesLinesAndBatches) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("a\nbb\n"));
  EXPECT_FALSE(queue.empty());
  EXPECT_EQ(queue.bytes(), 5u);
  EXPECT_EQ(queue.lines(), 2u);
  EXPECT_EQ(queue.batches(), 1u);
  queue.push_back(MakeBatch("ccc\n"));
  EXPECT_EQ(queue.bytes(), 9u);
  EXPECT_EQ(queue.lines(), 3u);
  EXPECT_EQ(queue.batches(), 2u);
}

TEST(BatchQueueTest, PopReducesAccounting) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("a\nbb\n"));
  queue.push_back(MakeBatch("ccc\n"));
  std::vector<Batch> popped = queue.pop(5);
  EXPECT_THAT(Contents(popped), ElementsAre("a\nbb\n"));
  EXPECT_EQ(queue.bytes(), 4u);
  EXPECT_EQ(queue.lines(), 1u);
  EXPECT_EQ(queue.batches(), 1u);
  popped = queue.pop(5);
  EXPECT_THAT(Contents(popped), ElementsAre("ccc\n"));
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.lines(), 0u);
  EXPECT_EQ(queue.batches(), 0u);
}

TEST(BatchQueueTest, PopKeepsLinesOfEachBatch) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("a\nb\nc\n"));
  std::vector<Batch> popped = queue.pop(100);
  ASSERT_EQ(popped.size(), 1u);
  EXPECT_EQ(popped[0].lines(), 3u);
  EXPECT_EQ(popped[0].size(), 6u);
}

TEST(BatchQueueTest, IsFifo) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("1\n"));
  queue.push_back(MakeBatch("2\n"));
  queue.push_back(MakeBatch("3\n"));
  EXPECT_THAT(Drain(queue), ElementsAre("1\n", "2\n", "3\n"));
}

TEST(BatchQueueTest, FullExactlyAtCapacity) {
  BatchQueue queue(10);
  queue.push_back(MakeBatch("1234\n"));  // 5
  EXPECT_FALSE(queue.full());
  queue.push_back(MakeBatch("123\n"));  // 9
  EXPECT_FALSE(queue.full());
  queue.push_back(MakeBatch("\n"));  // 10
  EXPECT_TRUE(queue.full());
}

TEST(BatchQueueTest, AcceptsBeyondCapacityAndStaysFull) {
  // Nothing is ever dropped: full() only tells producers to stop reading.
  BatchQueue queue(4);
  queue.push_back(MakeBatch("abc\n"));
  EXPECT_TRUE(queue.full());
  queue.push_back(MakeBatch("defgh\n"));
  EXPECT_TRUE(queue.full());
  EXPECT_EQ(queue.bytes(), 10u);
  EXPECT_EQ(queue.batches(), 2u);
  EXPECT_THAT(Drain(queue), ElementsAre("abc\n", "defgh\n"));
}

TEST(BatchQueueTest, NotFullAgainAfterPop) {
  BatchQueue queue(8);
  queue.push_back(MakeBatch("abc\n"));
  queue.push_back(MakeBatch("def\n"));
  EXPECT_TRUE(queue.full());
  queue.pop(1);
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.bytes(), 4u);
}

TEST(BatchQueueTest, OneLargeBatchMakesItFull) {
  BatchQueue queue(8);
  queue.push_back(MakeBatch(std::string(20, 'x') + "\n"));
  EXPECT_TRUE(queue.full());
}

TEST(BatchQueueTest, PopOnEmptyReturnsNothing) {
  BatchQueue queue(8);
  EXPECT_THAT(queue.pop(100), IsEmpty());
  EXPECT_THAT(queue.pop(0), IsEmpty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(BatchQueueTest, PopTakesAsManyAsFitWithinMaxBytes) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("aaa\n"));
  queue.push_back(MakeBatch("bbb\n"));
  queue.push_back(MakeBatch("ccc\n"));
  EXPECT_THAT(Contents(queue.pop(8)), ElementsAre("aaa\n", "bbb\n"));  // exactly 8
  EXPECT_THAT(Contents(queue.pop(8)), ElementsAre("ccc\n"));
}

TEST(BatchQueueTest, PopStopsBeforeTheBatchThatWouldExceed) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("aaa\n"));
  queue.push_back(MakeBatch("bbb\n"));
  EXPECT_THAT(Contents(queue.pop(7)), ElementsAre("aaa\n"));
  EXPECT_EQ(queue.batches(), 1u);
}

TEST(BatchQueueTest, PopDoesNotSkipAheadToSmallerBatches) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("aaa\n"));
  queue.push_back(MakeBatch("0123456789\n"));
  queue.push_back(MakeBatch("\n"));
  EXPECT_THAT(Contents(queue.pop(6)), ElementsAre("aaa\n"));
  EXPECT_THAT(Drain(queue), ElementsAre("0123456789\n", "\n"));
}

TEST(BatchQueueTest, PopTakesAtLeastOneBatchEvenIfLargerThanMaxBytes) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("0123456789\n"));
  queue.push_back(MakeBatch("x\n"));
  EXPECT_THAT(Contents(queue.pop(3)), ElementsAre("0123456789\n"));
  EXPECT_THAT(Contents(queue.pop(0)), ElementsAre("x\n"));
  EXPECT_TRUE(queue.empty());
}

TEST(BatchQueueTest, PopWithLargeLimitTakesEverything) {
  BatchQueue queue(100);
  for (int i = 0; i < 5; ++i) queue.push_back(MakeBatch(std::to_string(i) + "\n"));
  EXPECT_THAT(Contents(queue.pop(1 << 20)), ElementsAre("0\n", "1\n", "2\n", "3\n", "4\n"));
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.lines(), 0u);
}

TEST(BatchQueueTest, PushFrontJumpsAheadOfOlderBatchesAndKeepsOrder) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("old1\n"));
  queue.push_back(MakeBatch("old2\n"));
  std::vector<Batch> requeued;
  requeued.push_back(MakeBatch("re1\n"));
  requeued.push_back(MakeBatch("re2\na\n"));
  requeued.push_back(MakeBatch("re3\n"));
  queue.push_front(std::move(requeued));
  EXPECT_EQ(queue.batches(), 5u);
  EXPECT_EQ(queue.bytes(), 5u + 5u + 4u + 6u + 4u);
  EXPECT_EQ(queue.lines(), 6u);
  EXPECT_THAT(Drain(queue), ElementsAre("re1\n", "re2\na\n", "re3\n", "old1\n", "old2\n"));
}

TEST(BatchQueueTest, PushFrontOntoEmptyQueue) {
  BatchQueue queue(100);
  std::vector<Batch> requeued;
  requeued.push_back(MakeBatch("a\n"));
  requeued.push_back(MakeBatch("b\n"));
  queue.push_front(std::move(requeued));
  EXPECT_EQ(queue.bytes(), 4u);
  EXPECT_EQ(queue.lines(), 2u);
  EXPECT_THAT(Drain(queue), ElementsAre("a\n", "b\n"));
}

TEST(BatchQueueTest, PushFrontOfNothingChangesNothing) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("a\n"));
  queue.push_front({});
  EXPECT_EQ(queue.batches(), 1u);
  EXPECT_EQ(queue.bytes(), 2u);
  EXPECT_EQ(queue.lines(), 1u);
}

TEST(BatchQueueTest, SecondRequeueGoesAheadOfTheFirst) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("new\n"));
  std::vector<Batch> first;
  first.push_back(MakeBatch("first\n"));
  queue.push_front(std::move(first));
  std::vector<Batch> second;
  second.push_back(MakeBatch("second\n"));
  queue.push_front(std::move(second));
  EXPECT_THAT(Drain(queue), ElementsAre("second\n", "first\n", "new\n"));
}

TEST(BatchQueueTest, PushFrontCanMakeItFull) {
  BatchQueue queue(10);
  queue.push_back(MakeBatch("abc\n"));
  std::vector<Batch> requeued;
  requeued.push_back(MakeBatch("defghi\n"));
  queue.push_front(std::move(requeued));
  EXPECT_EQ(queue.bytes(), 11u);
  EXPECT_TRUE(queue.full());
}

TEST(BatchQueueTest, PoppedRequeuedBatchesRespectMaxBytes) {
  BatchQueue queue(100);
  queue.push_back(MakeBatch("tail\n"));
  std::vector<Batch> requeued;
  requeued.push_back(MakeBatch("aa\n"));
  requeued.push_back(MakeBatch("bb\n"));
  queue.push_front(std::move(requeued));
  EXPECT_THAT(Contents(queue.pop(6)), ElementsAre("aa\n", "bb\n"));
  EXPECT_THAT(Contents(queue.pop(6)), ElementsAre("tail\n"));
}

}  // namespace
}  // namespace jsontcplb
