// How the answer to one completion request is written: Ollama NDJSON, OpenAI server-sent events,
// or a single JSON object. The server drives a format (it knows HTTP, the format knows the wire
// shapes); implementations live in native_format.cpp and openai_format.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/service.h"

namespace ollmlx::api {

struct Body {
  int status = 200;
  std::string content_type;
  std::string data;
};

class CompletionFormat {
 public:
  virtual ~CompletionFormat() = default;
  // Content type of a streamed answer ("application/x-ndjson", "text/event-stream").
  virtual std::string stream_content_type() const = 0;
  // Streamed bytes for one chunk (empty: nothing to send).
  virtual std::string chunk(const CompletionChunk& c) = 0;
  // Streamed bytes that end a successful stream.
  virtual std::string finish(const CompletionResult& r) = 0;
  // Streamed bytes for an error after the stream began; nothing follows them.
  virtual std::string stream_error(int status, const std::string& message) = 0;
  // Non-streamed answers: add() collects every chunk, whole() gives the single answer.
  virtual void add(const CompletionChunk& c) = 0;
  virtual Body whole(const CompletionResult& r) = 0;
  // An error answered before any byte of the answer was sent.
  virtual Body error(int status, const std::string& message) const = 0;
  // A result answered as one JSON object even when streaming was asked for (Ollama's load and
  // unload answers, _debug_render_only); nullopt for ordinary results.
  virtual std::optional<Body> immediate(const CompletionResult& r) = 0;
};

// /api/generate and /api/chat (Kind from the request; `model` echoes the requested name).
std::unique_ptr<CompletionFormat> native_format(const CompletionRequest& request);

}  // namespace ollmlx::api
