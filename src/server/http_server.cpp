// HttpServer: httplib wiring, the request pipeline (CORS, host check, auth, routing with Ollama's
// 404/405 answers, handlers whose exceptions never escape), body limits and the access log.
#include "server/http_server.h"

#include <unistd.h>

#include <cstring>
#include <limits>
#include <thread>

#include "api/encode.h"
#include "api/openai.h"
#include "server/context.h"
#include "server/cors.h"
#include "server/host_check.h"
#include "server/task_pool.h"
#include "util/error.h"
#include "util/log.h"
#include "util/version.h"

namespace ollmlx::server {

RequestLog& request_log() {
  thread_local RequestLog log;
  return log;
}

void send(httplib::Response& res, const api::Body& body) {
  res.status = body.status;
  res.set_content(body.data, body.content_type);
}

void send_error(httplib::Response& res, int status, const std::string& message, bool openai) {
  if (openai) send(res, api::openai_error(status, message));
  else send(res, api::Body{status, api::kJsonUtf8, api::encode_error(message)});
}

namespace {

using Clock = std::chrono::steady_clock;

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

bool authorized(const httplib::Request& req, const std::string& key) {
  const std::string h = req.get_header_value("Authorization");
  if (h.size() < 7 || strncasecmp(h.c_str(), "Bearer ", 7) != 0) return false;
  std::string_view token(h);
  token.remove_prefix(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  return constant_time_equal(token, key);
}

void log_request(const httplib::Request& req, const httplib::Response& res) {
  RequestLog& rl = request_log();
  const int status = rl.status_override ? rl.status_override : res.status;
  const double secs =
      rl.start == Clock::time_point{}
          ? 0.0
          : std::chrono::duration<double>(Clock::now() - rl.start).count();
  std::string extra;
  if (!rl.model.empty()) extra += " model=" + rl.model;
  if (rl.result) {
    const auto& r = *rl.result;
    const auto s = [](std::chrono::nanoseconds d) {
      return std::chrono::duration<double>(d).count();
    };
    extra += fmt::format(" prompt_tokens={} eval_tokens={} load={:.3f}s prompt_eval={:.3f}s "
                         "eval={:.3f}s total={:.3f}s",
                         r.prompt_eval_count, r.eval_count, s(r.load_duration),
                         s(r.prompt_eval_duration), s(r.eval_duration), s(r.total_duration));
    if (r.eval_duration.count() > 0) {
      extra += fmt::format(" eval_rate={:.2f}tok/s", r.eval_count / s(r.eval_duration));
    }
    if (!r.done_reason.empty()) extra += " done_reason=" + r.done_reason;
  }
  const std::string line = fmt::format("{} {} {} {:.3f}s {}{}", req.method, req.path, status, secs,
                                       req.remote_addr, extra);
  if (status >= 500) log::warn("http: {}", line);
  else log::info("http: {}", line);
  rl = RequestLog{};
}

// The streamed body of the blob upload being dispatched on this thread (see request_body).
thread_local const httplib::ContentReader* t_streamed_body = nullptr;
thread_local bool t_body_consumed = false;

bool is_blob_upload(const httplib::Request& req) {
  return req.method == "POST" && starts_with(req.path, "/api/blobs/");
}

// httplib::Server plus a way to close a socket that was bound but never served.
class Listener : public httplib::Server {
 public:
  void close_unused_socket() {
    const auto sock = svr_sock_.exchange(INVALID_SOCKET);
    if (sock != INVALID_SOCKET) ::close(sock);
  }
};

}  // namespace

api::BodyReader request_body(Context& ctx) {
  if (const httplib::ContentReader* reader = t_streamed_body) {
    return [reader](const api::BodySink& sink) {
      t_body_consumed = true;
      return (*reader)([&](const char* data, size_t size) { return sink(data, size); });
    };
  }
  const std::string* body = &ctx.req.body;
  return [body](const api::BodySink& sink) { return body->empty() || sink(body->data(), body->size()); };
}

struct HttpServer::Impl {
  Impl(api::Service& s, ServerConfig c)
      : service(s), config(std::move(c)), cors(config.origins) {
    for (auto& r : native_routes()) routes.push_back(std::move(r));
    for (auto& r : openai_routes()) routes.push_back(std::move(r));
  }

  api::Service& service;
  ServerConfig config;
  Cors cors;
  std::vector<Route> routes;
  Listener svr;
  bool loopback = false;
  int port = -1;
  std::atomic<bool> stopping{false};
  std::atomic<bool> listening{false};
  std::atomic<bool> listen_done{false};

  void setup();
  void dispatch(const httplib::Request& req, httplib::Response& res);
  void route(const httplib::Request& req, httplib::Response& res);
  void add_cors(const httplib::Request& req, httplib::Response& res, bool preflight) {
    for (auto& [k, v] : cors.headers(req.get_header_value("Origin"), preflight)) {
      res.headers.emplace(k, v);
    }
  }
  // A cross-origin request (an Origin other than this server's own address).
  bool cross_origin(const httplib::Request& req) const {
    const std::string origin = req.get_header_value("Origin");
    const std::string host = req.get_header_value("Host");
    return !origin.empty() && origin != "http://" + host && origin != "https://" + host;
  }
};

void HttpServer::Impl::setup() {
  const auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    dispatch(req, res);
  };
  // Every method and path comes to dispatch(), which does Ollama's routing (404 vs 405).
  svr.Get(".*", handler);
  svr.Post(".*", handler);
  svr.Put(".*", handler);
  svr.Patch(".*", handler);
  svr.Delete(".*", handler);
  svr.Options(".*", handler);
  // Bodies are read here rather than by httplib: a blob upload streams to the route (request_body)
  // with no size limit, every other body is read whole up to max_body_bytes (413 beyond, after
  // the rest is read and dropped so the connection stays usable).
  const auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
    if (is_blob_upload(req)) {
      t_streamed_body = &reader;
      t_body_consumed = false;
      dispatch(req, res);
      t_streamed_body = nullptr;
      if (!t_body_consumed) reader([](const char*, size_t) { return true; });  // drain
      return;
    }
    std::string body;
    bool too_large = false;
    const bool complete = reader([&](const char* data, size_t size) {
      if (!too_large && body.size() + size > config.max_body_bytes) {
        too_large = true;
        std::string().swap(body);
      }
      if (!too_large) body.append(data, size);
      return true;
    });
    if (too_large) {
      res.status = 413;  // the error handler writes the JSON answer
      return;
    }
    if (!complete) {
      res.status = 400;
      return;
    }
    const_cast<httplib::Request&>(req).body = std::move(body);
    dispatch(req, res);
  };
  svr.Post(".*", with_body);
  svr.Put(".*", with_body);
  svr.Patch(".*", with_body);
  svr.Delete(".*", with_body);

  svr.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    RequestLog& rl = request_log();
    rl = RequestLog{};
    rl.start = Clock::now();
    // Never compress: httplib would gzip JSON for clients that accept it (byte-exact answers
    // differ from Ollama's) and a deflate stream holds tokens back.
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
    if (request_log().dispatched) return httplib::Server::HandlerResponse::Unhandled;
    // Answers httplib made itself (body over the limit, unparsable request).
    if (cross_origin(req) && cors.allowed(req.get_header_value("Origin"))) {
      add_cors(req, res, false);
    }
    if (res.status == 413) {
      send_error(res, 413,
                 fmt::format("request body too large (limit {} bytes)", config.max_body_bytes),
                 starts_with(req.path, "/v1/"));
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                               std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::error("http: unhandled exception: {}", what);
    send_error(res, 500, what, false);
  });
  svr.set_logger(log_request);

  // Limits are applied per route by with_body above; httplib's own limit only guards the bodies
  // it still reads itself.
  svr.set_payload_max_length(std::numeric_limits<size_t>::max());
  svr.set_tcp_nodelay(true);  // tokens go out as they come, not after Nagle's delay
  svr.set_keep_alive_max_count(1000);
  svr.set_keep_alive_timeout(5);
  svr.set_read_timeout(60);
  svr.set_write_timeout(30);
  const size_t max_threads = config.max_threads;
  svr.new_task_queue = [max_threads] { return new GrowingPool(max_threads); };
}

void HttpServer::Impl::dispatch(const httplib::Request& req, httplib::Response& res) {
  request_log().dispatched = true;
  try {
    if (cross_origin(req)) {
      if (!cors.allowed(req.get_header_value("Origin"))) {
        res.status = 403;
        return;
      }
      const bool preflight = req.method == "OPTIONS";
      add_cors(req, res, preflight);
      if (preflight) {
        res.status = 204;
        return;
      }
    }
    if (loopback) {
      switch (check_host(req.get_header_value("Host"), req.method)) {
        case HostVerdict::Forbidden: res.status = 403; return;
        case HostVerdict::NoContent: res.status = 204; return;
        case HostVerdict::Allow: break;
      }
    }
    if (!config.api_key.empty() && req.path != "/" && !authorized(req, config.api_key)) {
      send_error(res, 401, "unauthorized", false);
      return;
    }
    route(req, res);
  } catch (const std::exception& e) {  // a bug in the pipeline itself; keep serving
    log::error("http: {} {}: {}", req.method, req.path, e.what());
    send_error(res, 500, e.what(), false);
  }
}

void HttpServer::Impl::route(const httplib::Request& req, httplib::Response& res) {
  const auto matches = [&](const Route& r, std::string_view path, std::string& param) {
    if (!r.param) return path == r.path;
    if (!starts_with(path, r.path) || path.size() == r.path.size()) return false;
    param = std::string(path.substr(r.path.size()));
    return r.param_slashes || param.find('/') == std::string::npos;
  };
  std::string param;
  std::vector<std::string> allowed;
  for (const Route& r : routes) {
    if (!matches(r, req.path, param)) continue;
    if (std::find(r.methods.begin(), r.methods.end(), req.method) == r.methods.end()) {
      allowed.insert(allowed.end(), r.methods.begin(), r.methods.end());
      continue;
    }
    Context ctx{req, res, service, config, stopping};
    try {
      r.handler(ctx, param);
    } catch (const api::ApiError& e) {
      send_error(res, e.status(), e.message(), r.openai);
    } catch (const std::exception& e) {
      log::error("http: {} {}: {}", req.method, req.path, e.what());
      send_error(res, 500, e.what(), r.openai);
    } catch (...) {
      send_error(res, 500, "internal error", r.openai);
    }
    return;
  }
  if (!allowed.empty()) {
    std::string allow;
    for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    res.set_header("Allow", allow);
    res.status = 405;
    res.set_content("405 method not allowed", "text/plain");
    return;
  }
  // gin's trailing-slash redirect: /api/tags/ -> /api/tags (301 for GET, 307 otherwise).
  const std::string& path = req.path;
  const std::string other =
      path.size() > 1 && path.back() == '/' ? path.substr(0, path.size() - 1) : path + "/";
  for (const Route& r : routes) {
    std::string ignored;
    if (matches(r, other, ignored) &&
        std::find(r.methods.begin(), r.methods.end(), req.method) != r.methods.end()) {
      res.status = req.method == "GET" ? 301 : 307;
      res.set_header("Location", other);
      return;
    }
  }
  res.status = 404;
  res.set_content("404 page not found", "text/plain");
}

HttpServer::HttpServer(api::Service& service, ServerConfig config)
    : impl_(std::make_unique<Impl>(service, std::move(config))) {
  log::init();
  const int level = impl_->config.debug_level;
  if (level >= 2 && spdlog::get_level() > spdlog::level::trace) {
    spdlog::set_level(spdlog::level::trace);
  } else if (level == 1 && spdlog::get_level() > spdlog::level::debug) {
    spdlog::set_level(spdlog::level::debug);
  }
  impl_->setup();
}

HttpServer::~HttpServer() {
  stop();
  while (impl_->listening && !impl_->listen_done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!impl_->listening) impl_->svr.close_unused_socket();
}

int HttpServer::bind() {
  Impl& s = *impl_;
  if (s.port >= 0) return s.port;
  const std::string host = s.config.host.empty() ? "0.0.0.0" : s.config.host;
  if (s.config.port == 0) {
    s.port = s.svr.bind_to_any_port(host);
  } else if (s.svr.bind_to_port(host, s.config.port)) {
    s.port = s.config.port;
  }
  if (s.port < 0) {
    throw_error("server", "cannot listen on {}:{}: {}", host, s.config.port,
                std::strerror(errno));
  }
  s.loopback = is_loopback_bind(host);
  return s.port;
}

void HttpServer::listen() {
  Impl& s = *impl_;
  bind();
  log::info("Listening on {}:{} (ollmlx {}, Ollama API {})",
            s.config.host.empty() ? "0.0.0.0" : s.config.host, s.port, kVersion,
            s.config.ollama_version);
  s.listening = true;
  if (!s.stopping) s.svr.listen_after_bind();
  s.listen_done = true;
}

void HttpServer::stop() {
  Impl& s = *impl_;
  s.stopping = true;
  // httplib ignores stop() until its accept loop runs; wait for it (or for listen() to end).
  while (s.listening && !s.listen_done && !s.svr.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  s.svr.stop();
}

int HttpServer::port() const { return impl_->port; }

const ServerConfig& HttpServer::config() const { return impl_->config; }

}  // namespace ollmlx::server
