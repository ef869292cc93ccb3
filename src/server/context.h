// What a route handler gets for one request, the per-request record the access log prints, and
// small response helpers shared by the route files. Internal to src/server.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/completion_format.h"
#include "api/service.h"
#include "server/conn_watch.h"
#include "server/http_server.h"

namespace ollmlx::server {

// Filled while a request is served; read by the access log. One per connection thread (httplib
// serves a request, including its streamed body, on a single thread).
struct RequestLog {
  std::chrono::steady_clock::time_point start{};
  bool dispatched = false;   // our dispatcher answered: the error handler must not add a body
  int status_override = 0;   // e.g. 499 when the client left before the answer was complete
  std::string model;
  std::optional<api::CompletionResult> result;
};
RequestLog& request_log();

struct Context {
  Context(const httplib::Request& rq, httplib::Response& rs, api::Service& svc,
          const ServerConfig& cfg, const std::atomic<bool>& stop)
      : req(rq), res(rs), service(svc), config(cfg), stopping(stop) {}

  const httplib::Request& req;
  httplib::Response& res;
  api::Service& service;
  const ServerConfig& config;
  const std::atomic<bool>& stopping;

  // The client connection's watch, created on first use.
  std::shared_ptr<ConnectionWatch> watch() {
    if (!watch_) watch_ = std::make_shared<ConnectionWatch>(req.remote_addr, req.remote_port,
                                                            req.local_port);
    return watch_;
  }

 private:
  std::shared_ptr<ConnectionWatch> watch_;
};

struct Route {
  std::vector<std::string> methods;
  std::string path;     // exact path, or the prefix before the parameter
  bool param = false;   // path is a prefix followed by a non-empty parameter
  bool param_slashes = false;  // the parameter may contain '/'
  bool openai = false;  // errors in OpenAI's shape
  std::function<void(Context&, const std::string& param)> handler;
};
std::vector<Route> native_routes();
std::vector<Route> openai_routes();

void send(httplib::Response& res, const api::Body& body);
void send_error(httplib::Response& res, int status, const std::string& message, bool openai);

// Runs one completion and writes its answer (NDJSON/SSE stream or a single object) to ctx.res.
void serve_completion(Context& ctx, api::CompletionRequest request, bool stream,
                      std::unique_ptr<api::CompletionFormat> format);

// Runs a store operation (pull, create) that reports progress through the sink it is given, and
// answers with its NDJSON progress stream, or with the final status when stream is false.
using ProgressOperation = std::function<void(const api::ProgressSink&)>;
void serve_progress(Context& ctx, bool stream, const ProgressOperation& operation);

// The request body as a stream. For POST /api/blobs/... (uploads of many GB) it is read from
// the socket as the reader is called, without the max_body_bytes limit; for every other route it
// is ctx.req.body, already read.
api::BodyReader request_body(Context& ctx);

}  // namespace ollmlx::server
