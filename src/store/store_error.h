// Errors of the model store and the puller. The server must answer some of them with a specific
// HTTP status and Ollama's exact text (compat spec §1.9, §1.12, §1.13, §1.17), so each carries a
// kind it can switch on and the bare message it can put in {"error": ...} unchanged.
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace ollmlx::store {

enum class StoreErrorKind {
  InvalidName,     // 400: "invalid model name", `source "x" is invalid`, `name "x" is invalid`
  NotFound,        // 404: `model 'x' not found`, `model "x" not found`,
                   //      "pull model manifest: file does not exist..."
  Unauthorized,    // gated or private repository (hub said 401/403); names HF_TOKEN
  NotMlx,          // the repository holds no MLX/safetensors model (GGUF-only, PyTorch .bin)
  NoSpace,         // not enough free disk space for the download
  DigestMismatch,  // "digest mismatch, file must be downloaded again: want ..., got ..."
  Network,         // the hub could not be reached or kept failing after retries
  Canceled,        // the caller's cancel flag was set
  Corrupt,         // a manifest or cache entry on disk is unreadable
  Io,              // a local file operation failed
};

const char* to_string(StoreErrorKind kind);

class StoreError : public Error {
 public:
  StoreError(StoreErrorKind kind, const std::string& message)
      : Error("store", message), kind_(kind), message_(message) {}
  StoreErrorKind kind() const { return kind_; }
  // The message without the "[store] " prefix: what the server sends as {"error": message()}.
  const std::string& message() const { return message_; }

 private:
  StoreErrorKind kind_;
  std::string message_;
};

template <typename... Args>
[[noreturn]] void throw_store(StoreErrorKind kind, fmt::format_string<Args...> format,
                              Args&&... args) {
  throw StoreError(kind, fmt::format(format, std::forward<Args>(args)...));
}

// Go's %q for the plain strings Ollama quotes in its messages: "x" with \" \\ and control bytes
// escaped, so `model "x" not found` matches Ollama byte for byte.
std::string go_quote(std::string_view s);

}  // namespace ollmlx::store
