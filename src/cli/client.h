// The CLI's HTTP client of the ollmlx server (Ollama's api.Client): the address from OLLMLX_HOST
// or OLLAMA_HOST, a bearer token from OLLMLX_API_KEY, JSON requests, NDJSON streams delivered
// line by line, and errors worded as Ollama's client words them: a plain request's error is the
// server's message; a stream answered with an error status is "404 Not Found: <message>"; an
// {"error": ...} line inside a stream is its message.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace ollmlx::cli {

using Json = nlohmann::ordered_json;

// Printed by main as "Error: <what()>".
class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An HTTP error answer (Ollama's api.StatusError).
class StatusError : public CliError {
 public:
  StatusError(int status, std::string reason, std::string message);
  int status() const { return status_; }
  const std::string& message() const { return message_; }

 private:
  int status_;
  std::string message_;
};

inline constexpr const char* kNotRunning =
    "could not connect to ollmlx server, run 'ollmlx serve' to start it";

class Client {
 public:
  // From the environment: OLLMLX_HOST (else OLLAMA_HOST), OLLMLX_API_KEY.
  static Client from_env();
  Client(std::string scheme, std::string host, int port, std::string base_path, std::string api_key);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // The server's address as "http://127.0.0.1:11434".
  std::string base_url() const;

  // HEAD /. Throws CliError(kNotRunning) when nothing listens there.
  void heartbeat();
  // GET /api/version: Ollama's API version; `ollmlx_version` gets the X-Ollmlx-Version header.
  std::string version(std::string* ollmlx_version);

  // A plain request; returns the parsed body (null when it is empty). Throws StatusError.
  Json request(const std::string& method, const std::string& path, const Json* body = nullptr);

  // HEAD /api/blobs/<digest>: whether the server has the blob.
  bool has_blob(const std::string& digest);
  // POST /api/blobs/<digest> with the file at `path` as the body, streamed from disk;
  // `on_progress` gets the bytes sent so far. Throws StatusError / CliError.
  void upload_blob(const std::string& digest, const std::string& path,
                   const std::function<void(uint64_t)>& on_progress);

  // A streamed request: `on_line` gets every NDJSON object and returns false to stop reading.
  // Returns false if the stream was cancelled (by `on_line` or by `cancel` turning true).
  bool stream(const std::string& path, const Json& body, const std::function<bool(const Json&)>& on_line,
              const std::atomic<bool>* cancel = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ollmlx::cli
