// Streams the progress of a long store operation (/api/pull, /api/create) as NDJSON, one flushed
// line per event, the way Ollama's streamResponse does: the operation runs on its own thread; an
// error before the first event is a plain HTTP error, one after it the final {"error": ...} line;
// a client that leaves cancels the operation. With stream:false only the end is answered:
// {"status":"success"} or the error with its status.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "api/encode.h"
#include "server/context.h"
#include "util/log.h"

namespace ollmlx::server {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);

struct ProgressSession {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> lines;
  bool finished = false;
  int error_status = 0;
  std::string error;
  std::atomic<bool> abandoned{false};
  std::thread worker;

  void fail(const std::exception_ptr& ep) {
    int status = 500;
    std::string message;
    try {
      std::rethrow_exception(ep);
    } catch (const api::ApiError& e) {
      status = e.status();
      message = e.message();
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
      message = "unknown error";
    }
    std::lock_guard<std::mutex> lock(mu);
    error_status = status;
    error = message;
  }
};

}  // namespace

void serve_progress(Context& ctx, bool stream, const ProgressOperation& operation) {
  if (!stream) {
    auto watch = ctx.watch();
    const std::atomic<bool>* stopping = &ctx.stopping;
    operation([&](const api::Progress&) { return !stopping->load() && !watch->gone(); });
    ctx.res.status = 200;
    ctx.res.set_content(api::encode_progress({"success", "", 0, 0}), api::kJsonUtf8);
    return;
  }

  auto s = std::make_shared<ProgressSession>();
  auto watch = ctx.watch();
  const std::atomic<bool>* stopping = &ctx.stopping;
  s->worker = std::thread([s, operation, watch, stopping] {
    try {
      operation([&](const api::Progress& p) {
        if (s->abandoned.load() || stopping->load() || watch->gone()) return false;
        {
          std::lock_guard<std::mutex> lock(s->mu);
          s->lines.push_back(api::encode_progress(p) + "\n");
        }
        s->cv.notify_all();
        return true;
      });
      std::lock_guard<std::mutex> lock(s->mu);
      s->lines.push_back(api::encode_progress({"success", "", 0, 0}) + "\n");
    } catch (...) {
      s->fail(std::current_exception());
    }
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->finished = true;
    }
    s->cv.notify_all();
  });

  // Wait for the first line or the end.
  {
    std::unique_lock<std::mutex> lock(s->mu);
    while (s->lines.empty() && !s->finished) {
      s->cv.wait_for(lock, kPollInterval);
      if (ctx.stopping.load() || watch->gone()) s->abandoned = true;
    }
    if (s->lines.empty() && s->error_status != 0) {
      const int status = s->error_status;
      const std::string message = s->error;
      lock.unlock();
      s->worker.join();
      throw api::ApiError(status, message);
    }
  }

  ctx.res.status = 200;
  ctx.res.set_chunked_content_provider(
      "application/x-ndjson",
      [s](size_t, httplib::DataSink& sink) {
        for (;;) {
          std::deque<std::string> batch;
          bool fin = false;
          std::string error;
          {
            std::unique_lock<std::mutex> lock(s->mu);
            s->cv.wait_for(lock, kPollInterval, [&] { return !s->lines.empty() || s->finished; });
            batch.swap(s->lines);
            fin = s->finished;
            if (fin && s->error_status != 0) error = api::encode_error(s->error) + "\n";
          }
          if (!error.empty()) batch.push_back(error);
          for (const auto& line : batch) {
            if (!sink.write(line.data(), line.size())) {
              s->abandoned = true;
              return false;
            }
          }
          if (fin) {
            if (!error.empty()) log::warn("progress stream ended with an error: {}", s->error);
            sink.done();
            return true;
          }
        }
      },
      [s](bool success) {
        if (!success) s->abandoned = true;
        if (s->worker.joinable()) s->worker.join();
      });
}

}  // namespace ollmlx::server
