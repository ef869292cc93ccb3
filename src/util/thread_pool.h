// A persistent pool of worker threads for data-parallel kernels. The calling thread takes part,
// so a pool of size N runs N-way. Workers spin briefly between jobs (kernels come in quick
// succession during a forward pass) and then sleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ollmlx {

class ThreadPool {
 public:
  // n_threads <= 0: all hardware threads.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(task, thread) for every task in [0, n_tasks); tasks are taken dynamically. Blocks
  // until all are done. An exception thrown by fn is rethrown here (the first one).
  void run(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

  // Splits [0, n) into contiguous chunks (guided_chunks) and runs fn(begin, end) on them.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // Chunk ends of [0, n) for `threads` threads: each chunk takes half of the remaining items'
  // share per thread (at least `grain`), so chunks shrink towards the end and a thread that
  // finishes early waits for at most a small chunk of the other (with equal chunks of a quarter
  // of each thread's share it could wait up to that quarter). Deterministic: the same
  // (n, grain, threads) always gives the same chunks.
  static std::vector<int64_t> guided_chunks(int64_t n, int64_t grain, int threads);

 private:
  void worker_loop(int thread);
  void work(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};

  // Current job.
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> active_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace ollmlx
