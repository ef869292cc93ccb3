// ThreadPool: every index runs exactly once, the guided chunking's shape, errors reach the caller.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "util/thread_pool.h"

namespace ollmlx {
namespace {

TEST(GuidedChunks, CoverTheRangeInShrinkingChunks) {
  for (int threads : {1, 2, 3, 8}) {
    for (int64_t grain : {1, 4, 8}) {
      for (int64_t n : {1, 3, 8, 9, 144, 240, 12288}) {
        const std::vector<int64_t> ends = ThreadPool::guided_chunks(n, grain, threads);
        ASSERT_FALSE(ends.empty());
        EXPECT_EQ(ends.back(), n);
        int64_t prev_end = 0, prev_size = n;
        for (size_t i = 0; i < ends.size(); ++i) {
          const int64_t size = ends[i] - prev_end;
          ASSERT_GT(size, 0) << n << " " << grain << " " << threads;
          // At least a grain each (unless the whole range is smaller); never larger than the one
          // before, except the last, which may absorb a remainder smaller than a grain.
          if (n >= grain) {
            EXPECT_GE(size, grain);
          }
          if (i + 1 < ends.size()) {
            EXPECT_LE(size, prev_size);
          } else {
            EXPECT_LT(size, prev_size + grain + 1);
          }
          prev_size = size;
          prev_end = ends[i];
        }
        // The first chunk is half of a thread's share.
        const int64_t share = 2 * threads;
        if (n > 2 * grain) {
          EXPECT_EQ(ends[0], std::max(grain, (n + share - 1) / share));
        }
        EXPECT_EQ(ends, ThreadPool::guided_chunks(n, grain, threads));
      }
    }
  }
  EXPECT_TRUE(ThreadPool::guided_chunks(0, 8, 2).empty());
}

TEST(GuidedChunks, LastChunksAreSmall) {
  // The LM head of a 49152-token vocabulary in 4-row blocks on 2 threads: the last chunk is a
  // few blocks, not a quarter of a thread's share.
  const std::vector<int64_t> ends = ThreadPool::guided_chunks(12288, 4, 2);
  ASSERT_GE(ends.size(), 2u);
  EXPECT_LE(ends.back() - ends[ends.size() - 2], 8);
  EXPECT_LT(ends.size(), 60u);
}

TEST(ThreadPool, ParallelForRunsEveryIndexOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 100, 5000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, 4, [&](int64_t b, int64_t e) {
        ASSERT_LT(b, e);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
    }
  }
}

TEST(ThreadPool, RunUsesEveryTaskAndRethrows) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.run(1000, [&](int64_t t, int thread) {
    EXPECT_GE(thread, 0);
    EXPECT_LT(thread, 2);
    sum.fetch_add(t);
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  EXPECT_THROW(pool.run(50, [&](int64_t t, int) {
    if (t == 17) throw std::runtime_error("task 17");
  }),
               std::runtime_error);
  // The pool still works after an error.
  std::atomic<int> count{0};
  pool.parallel_for(64, 1, [&](int64_t b, int64_t e) { count.fetch_add(static_cast<int>(e - b)); });
  EXPECT_EQ(count.load(), 64);
}

}  // namespace
}  // namespace ollmlx
