// A thread pool for httplib that grows on demand: every open connection (and so every streaming
// request) holds a thread, so a fixed pool of 8 would queue the 9th chat behind the others
// instead of letting the engine batch or reject it. Threads are kept once created, up to a cap.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace ollmlx::server {

class GrowingPool final : public httplib::TaskQueue {
 public:
  explicit GrowingPool(size_t max_threads);
  ~GrowingPool() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;  // runs the queued jobs, then joins every thread

 private:
  void work();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  size_t max_threads_;
  bool shutdown_ = false;
};

}  // namespace ollmlx::server
