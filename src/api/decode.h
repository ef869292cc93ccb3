// Decoding of Ollama's native request bodies (§0, §1) into the neutral requests of service.h,
// with the checks Ollama's handlers make before a model is touched. Every function throws
// ApiError with Ollama's status and message.
#pragma once

#include <string>
#include <string_view>

#include "api/service.h"

namespace ollmlx::api {

// Parses a request body into an object: empty body -> 400 "missing request body", `null` -> {},
// malformed JSON -> Go's syntax error, a non-object -> "json: cannot unmarshal array into Go
// value of type api.<go_type>".
Json parse_request_object(std::string_view body, std::string_view go_type);

struct NativeCompletion {
  CompletionRequest request;
  bool stream = true;  // absent or null = true
};

// POST /api/generate and /api/chat.
NativeCompletion decode_generate(std::string_view body);
NativeCompletion decode_chat(std::string_view body);

// Checks every entry point of a completion makes (also used for /v1): top_logprobs in 0..20,
// the model name (generate: 404 "model '' not found"; chat: 400 "model is required"), and raw
// mode without template/system/context.
void validate_completion(const CompletionRequest& request);

// Shared field decoders (also used by the OpenAI layer).
// think: bool or "high"/"medium"/"low"/"max"; anything else is a 400 with Ollama's message.
Json decode_think(const Json& value);
// format: null or "" = none, "json", or a JSON-schema object; anything else is a 400.
Json decode_format(const Json& value);

struct ShowCall {
  std::string model;
  bool verbose = false;
  std::string system;  // non-empty: replaces the model's system prompt in the answer
};
ShowCall decode_show(std::string_view body);  // 400 "model is required"

struct CopyCall {
  std::string source, destination;
};
CopyCall decode_copy(std::string_view body);  // 400 `source "" is invalid` etc.

// /api/delete, /api/pull, /api/push, /api/create: the model name (`model`, else the deprecated
// `name`) and `stream`.
struct ModelCall {
  std::string model;
  bool stream = true;
};
ModelCall decode_delete(std::string_view body);  // 400 `name "" is invalid`
ModelCall decode_pull(std::string_view body);    // 400 "invalid model name"
ModelCall decode_push(std::string_view body);    // 400 "model is required"
ModelCall decode_create(std::string_view body);  // 400 "invalid model name"
// The whole /api/create request (model or name, from, template, system, license as a string or
// list, parameters, messages, files, adapters, quantize). 400 "invalid model name" without a
// name; Go-style type errors for mistyped fields.
CreateRequest decode_create_request(std::string_view body);

// /api/embed and the legacy /api/embeddings.
struct EmbedCall {
  std::string model;
  Json input;  // null, a string or an array of strings
  bool truncate = true;
  int64_t dimensions = 0;
  std::optional<KeepAlive> keep_alive;
  Options options;
};
EmbedCall decode_embed(std::string_view body);       // 404 "model '' not found", input checks
EmbedCall decode_embeddings(std::string_view body);  // 400 "model is required"; input = prompt

}  // namespace ollmlx::api
