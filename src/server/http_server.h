// The HTTP server in front of an api::Service: Ollama's routes on port 11434 (native and /v1),
// streaming, CORS, the DNS-rebinding host check, optional bearer auth, one log line per request.
// httplib stays an implementation detail.
//
// Usage (ollmlx serve):
//   ollmlx::server::HttpServer server(service, ollmlx::server::config_from_env());
//   server.listen();  // blocks; another thread (e.g. a SIGINT handler thread) calls stop()
// Tests bind a free port first: config.port = 0; int port = server.bind(); then listen() on a
// thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/ollama_host.h"
#include "api/service.h"

namespace ollmlx::server {

// The Ollama API version /api/version reports (clients gate features on it; VS Code Copilot
// needs >= 0.6.4). ollmlx's own version goes in the X-Ollmlx-Version header.
inline constexpr const char* kOllamaApiVersion = "0.12.6";

struct ServerConfig {
  std::string host = "127.0.0.1";  // "" = every interface
  int port = 11434;                // 0 = any free port (bind() reports it)
  std::vector<std::string> origins;  // extra CORS origins (OLLAMA_ORIGINS), wildcards allowed
  std::string api_key;               // non-empty: every route but / needs "Bearer <key>"
  size_t max_body_bytes = size_t{64} << 20;  // larger bodies get 413
  std::string ollama_version = kOllamaApiVersion;
  int debug_level = 0;       // OLLAMA_DEBUG: 1 = debug, 2 = trace (only ever raises the level)
  size_t max_threads = 1024; // connections served at once (each stream holds one)
};

// OLLAMA_HOST parsing and env_value live in the api layer (the CLI shares them).
using api::env_value;
using api::HostPort;
using api::parse_ollama_host;

// From the environment: OLLMLX_HOST (else OLLAMA_HOST), OLLAMA_ORIGINS, OLLMLX_API_KEY,
// OLLAMA_DEBUG.
ServerConfig config_from_env();

class HttpServer {
 public:
  HttpServer(api::Service& service, ServerConfig config);
  ~HttpServer();  // stops and waits for in-flight requests
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; throws ollmlx::Error("server", ...) if it cannot. Returns the
  // port (the chosen one when config.port is 0). Called by listen() if not done before.
  int bind();
  // Serves until stop(); returns once in-flight requests have ended.
  void listen();
  // Thread-safe and idempotent: stops accepting, cancels running completions (their sinks
  // return false and CompletionRequest::cancelled turns true) and makes listen() return.
  void stop();
  int port() const;
  const ServerConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ollmlx::server
