// Drives one completion: the engine call, streamed or aggregated answers, errors before and
// after the first byte, and client disconnects. A streamed request runs the engine on its own
// thread so that the HTTP status can wait for the first chunk (an error that comes first is a
// proper 4xx/5xx) and so that a slow reader never stalls the engine's batch: chunks queue here
// and the connection thread writes them, flushed one by one.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "server/context.h"
#include "util/log.h"

namespace ollmlx::server {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);

struct Failure {
  int status;
  std::string message;
};

Failure failure_of(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const api::ApiError& e) {
    return {e.status(), e.message()};
  } catch (const std::exception& e) {
    return {500, e.what()};
  } catch (...) {
    return {500, "unknown error"};
  }
}

void log_ignored_options(const api::CompletionRequest& r) {
  for (const auto& key : r.options.ignored) {
    log::warn("invalid option provided: option={} model={}", key, r.model);
  }
}

// A streamed completion, shared by the connection thread and the engine thread.
struct Session {
  api::Service* service = nullptr;
  api::CompletionRequest request;
  std::unique_ptr<api::CompletionFormat> format;  // used by the connection thread only
  std::shared_ptr<ConnectionWatch> watch;
  const std::atomic<bool>* stopping = nullptr;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<api::CompletionChunk> chunks;
  bool finished = false;
  std::optional<api::CompletionResult> result;
  std::optional<Failure> failure;
  std::atomic<bool> abandoned{false};  // the answer can no longer be delivered
  std::thread worker;

  ~Session() {
    if (worker.joinable()) worker.detach();  // only reached on the worker thread itself
  }

  bool cancelled() { return abandoned.load() || stopping->load() || watch->gone(); }

  void run() {
    std::optional<api::CompletionResult> r;
    std::optional<Failure> f;
    try {
      r = service->complete(request, [this](const api::CompletionChunk& c) {
        if (cancelled()) return false;
        {
          std::lock_guard<std::mutex> lock(mu);
          chunks.push_back(c);
        }
        cv.notify_all();
        return true;
      });
    } catch (...) {
      f = failure_of(std::current_exception());
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      result = std::move(r);
      failure = std::move(f);
      finished = true;
    }
    cv.notify_all();
  }

  void join() {
    if (worker.joinable()) worker.join();
  }
};

// Notes the outcome for the access log (on the connection thread).
void record(const std::shared_ptr<Session>& s) {
  RequestLog& log = request_log();
  {
    std::lock_guard<std::mutex> lock(s->mu);  // the engine may still be running
    if (s->result) log.result = s->result;
  }
  if (s->abandoned && log.status_override == 0) log.status_override = 499;
}

void serve_streamed(Context& ctx, std::shared_ptr<Session> s) {
  s->worker = std::thread([raw = s.get(), keep = s]() mutable {
    raw->run();
    keep.reset();
  });

  // Wait for the first chunk or the end, watching the client meanwhile.
  bool have_chunk = false;
  {
    std::unique_lock<std::mutex> lock(s->mu);
    while (s->chunks.empty() && !s->finished) {
      s->cv.wait_for(lock, kPollInterval);
      if (s->chunks.empty() && !s->finished && (ctx.stopping.load() || s->watch->gone())) {
        s->abandoned = true;  // the engine notices through the sink or request.cancelled
      }
    }
    have_chunk = !s->chunks.empty();
  }

  if (!have_chunk) {
    s->join();
    record(s);
    if (s->failure) {
      send(ctx.res, s->format->error(s->failure->status, s->failure->message));
      return;
    }
    if (auto body = s->format->immediate(*s->result)) {
      send(ctx.res, *body);
      return;
    }
    ctx.res.status = 200;
    ctx.res.set_content(s->format->finish(*s->result), s->format->stream_content_type());
    return;
  }

  const std::atomic<bool>* stopping = &ctx.stopping;
  ctx.res.status = 200;
  ctx.res.set_chunked_content_provider(
      s->format->stream_content_type(),
      [s, stopping](size_t, httplib::DataSink& sink) {
        for (;;) {
          std::deque<api::CompletionChunk> batch;
          bool fin = false;
          {
            std::unique_lock<std::mutex> lock(s->mu);
            s->cv.wait_for(lock, kPollInterval, [&] { return !s->chunks.empty() || s->finished; });
            batch.swap(s->chunks);
            fin = s->finished;
          }
          // One write (one HTTP chunk, flushed) per engine chunk, as Ollama writes them.
          std::vector<std::string> pieces;
          for (const auto& c : batch) pieces.push_back(s->format->chunk(c));
          if (fin) {
            pieces.push_back(s->failure ? s->format->stream_error(s->failure->status,
                                                                  s->failure->message)
                                        : s->format->finish(*s->result));
          }
          for (const auto& out : pieces) {
            if (!out.empty() && !sink.write(out.data(), out.size())) {
              s->abandoned = true;
              record(s);
              return false;
            }
          }
          if (fin) {
            if (s->failure) {
              log::warn("stream ended with an error after the answer began: {} {}",
                        s->failure->status, s->failure->message);
            }
            record(s);
            sink.done();
            return true;
          }
          if (batch.empty() && (stopping->load() || s->watch->gone())) {
            s->abandoned = true;
            record(s);
            return false;
          }
        }
      },
      [s](bool success) {
        if (!success) s->abandoned = true;
        s->join();
      });
}

void serve_whole(Context& ctx, api::CompletionRequest request,
                 std::unique_ptr<api::CompletionFormat> format) {
  auto watch = ctx.watch();
  const std::atomic<bool>* stopping = &ctx.stopping;
  request.cancelled = [watch, stopping] { return stopping->load() || watch->gone(); };
  std::mutex mu;
  api::CompletionFormat* f = format.get();
  std::optional<api::CompletionResult> result;
  try {
    result = ctx.service.complete(request, [&](const api::CompletionChunk& c) {
      if (stopping->load() || watch->gone()) return false;
      std::lock_guard<std::mutex> lock(mu);
      f->add(c);
      return true;
    });
  } catch (...) {
    const Failure e = failure_of(std::current_exception());
    send(ctx.res, format->error(e.status, e.message));
    return;
  }
  RequestLog& log = request_log();
  log.result = result;
  if (watch->gone()) log.status_override = 499;
  if (auto body = format->immediate(*result)) {
    send(ctx.res, *body);
  } else {
    send(ctx.res, format->whole(*result));
  }
}

}  // namespace

void serve_completion(Context& ctx, api::CompletionRequest request, bool stream,
                      std::unique_ptr<api::CompletionFormat> format) {
  request_log().model = request.model;
  log_ignored_options(request);
  if (!stream) {
    serve_whole(ctx, std::move(request), std::move(format));
    return;
  }
  auto s = std::make_shared<Session>();
  s->service = &ctx.service;
  s->format = std::move(format);
  s->watch = ctx.watch();
  s->stopping = &ctx.stopping;
  s->request = std::move(request);
  Session* raw = s.get();
  s->request.cancelled = [raw] { return raw->cancelled(); };
  serve_streamed(ctx, std::move(s));
}

}  // namespace ollmlx::server
