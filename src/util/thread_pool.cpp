#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define OLLMLX_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define OLLMLX_PAUSE() asm volatile("yield")
#else
#define OLLMLX_PAUSE() ((void)0)
#endif

namespace ollmlx {

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  for (;;) {
    int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) break;
    try {
      (*job_)(task, thread);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      next_task_.store(n_tasks_);  // stop handing out work
    }
  }
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    // Spin for a while (next kernel usually follows within microseconds), then sleep.
    auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    uint64_t gen;
    for (int i = 0;; ++i) {
      gen = generation_.load(std::memory_order_acquire);
      if (gen != seen) break;
      if (i < 4000)
        OLLMLX_PAUSE();
      else
        std::this_thread::yield();
      if ((i & 255) == 0 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleeping_.fetch_add(1);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        sleeping_.fetch_sub(1);
        gen = generation_.load();
        break;
      }
    }
    seen = gen;
    if (stop_.load()) return;
    work(thread);
    active_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  job_ = &fn;
  n_tasks_ = n_tasks;
  error_ = nullptr;
  next_task_.store(0, std::memory_order_relaxed);
  active_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // Publishing under the mutex pairs with a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleeping_.load() > 0) wake_.notify_all();
  work(0);
  // Wait for the workers; yield the core after a short spin, in case a worker is descheduled
  // (other processes on the machine) and needs it to finish.
  for (int i = 0; active_.load(std::memory_order_acquire) != 0; ++i) {
    if (i < 4000)
      OLLMLX_PAUSE();
    else
      std::this_thread::yield();
  }
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

std::vector<int64_t> ThreadPool::guided_chunks(int64_t n, int64_t grain, int threads) {
  std::vector<int64_t> ends;
  if (n <= 0) return ends;
  grain = std::max<int64_t>(1, grain);
  const int64_t share = 2 * std::max(1, threads);
  for (int64_t done = 0; done < n;) {
    const int64_t left = n - done;
    int64_t size = std::max(grain, (left + share - 1) / share);
    if (left - size < grain) size = left;  // no runt chunk at the end
    done += size;
    ends.push_back(done);
  }
  return ends;
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  const std::vector<int64_t> ends = guided_chunks(n, grain, n_threads_);
  run(static_cast<int64_t>(ends.size()), [&](int64_t c, int) {
    const int64_t b = c == 0 ? 0 : ends[static_cast<size_t>(c - 1)];
    fn(b, ends[static_cast<size_t>(c)]);
  });
}

}  // namespace ollmlx
