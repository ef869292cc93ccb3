// The OpenAI-compatible layer (§1b): /v1 request bodies mapped onto the neutral requests and the
// answers mapped back (chat.completion[.chunk], text_completion, model list, error shape).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/completion_format.h"
#include "api/service.h"

namespace ollmlx::api {

struct OpenAICompletion {
  CompletionRequest request;
  bool stream = false;  // /v1 defaults to a single answer
  bool include_usage = false;
  std::string id;       // "chatcmpl-<n>" / "cmpl-<n>"
  int64_t created = 0;  // unix seconds, shared by every chunk of the answer
};

// POST /v1/chat/completions and /v1/completions. Throws ApiError (400 for malformed requests,
// the statuses of validate_completion otherwise).
OpenAICompletion decode_openai_chat(std::string_view body);
OpenAICompletion decode_openai_completion(std::string_view body);

struct OpenAIEmbed {
  std::string model;
  Json input;
  int64_t dimensions = 0;
  std::string encoding_format;
};
// POST /v1/embeddings: encoding_format and input checks as Ollama's middleware makes them.
OpenAIEmbed decode_openai_embeddings(std::string_view body);

// {"error":{"message","type","param":null,"code":null}}; type from the status (400
// invalid_request_error, 404 not_found_error, else api_error).
Json openai_error_json(int status, const std::string& message);
Body openai_error(int status, const std::string& message);

// GET /v1/models and /v1/models/{model}.
std::string encode_openai_models(const std::vector<ModelEntry>& models);
std::string encode_openai_model(const std::string& id, const ModelShow& show);
// `owned_by`: the namespace of a model name ("library" unless the name has one).
std::string model_namespace(std::string_view name);

std::unique_ptr<CompletionFormat> openai_chat_format(const OpenAICompletion& call);
std::unique_ptr<CompletionFormat> openai_completion_format(const OpenAICompletion& call);

// "call_" + 8 random [a-z0-9], as Ollama's tool-call ids.
std::string new_tool_call_id();

}  // namespace ollmlx::api
