#include "dataplane/core/batch.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <utility>

namespace jsontcplb {
namespace {

static_assert(!std::is_copy_constructible_v<Batch>, "a batch has exactly one owner");
static_assert(!std::is_copy_assignable_v<Batch>, "a batch has exactly one owner");
static_assert(std::is_nothrow_move_constructible_v<Batch>);
static_assert(std::is_nothrow_move_assignable_v<Batch>);

TEST(BatchTest, DefaultIsEmpty) {
  Batch batch;
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.size(), 0u);
  EXPECT_EQ(batch.lines(), 0u);
  EXPECT_EQ(batch.bytes(), "");
}

TEST(BatchTest, HoldsBytesAndLines) {
  Batch batch(std::string("a\nbc\n"), 2);
  EXPECT_FALSE(batch.empty());
  EXPECT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch.lines(), 2u);
  EXPECT_EQ(batch.bytes(), "a\nbc\n");
}

TEST(BatchTest, MoveKeepsBytesWhereTheyAre) {
  // Views handed to a gather write must survive the batch moving into the ledger.
  Batch original(std::string(1000, 'x') + "\n", 1);
  const char* data = original.bytes().data();
  Batch moved(std::move(original));
  EXPECT_EQ(moved.bytes().data(), data);
  EXPECT_EQ(moved.size(), 1001u);
  EXPECT_EQ(moved.lines(), 1u);
  Batch assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.bytes().data(), data);
  EXPECT_EQ(assigned.lines(), 1u);
}

}  // namespace
}  // namespace jsontcplb
