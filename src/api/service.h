// The boundary between the HTTP server (src/server, src/api) and the engine: what a request asks
// for, in neutral form, and what the engine answers. The server decodes Ollama and OpenAI wire
// requests into these structs and encodes the answers; the engine side (engine/service.*)
// implements Service. Nothing here knows HTTP or JSON wire quirks beyond plain data.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace ollmlx::api {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::system_clock;

// An error with the HTTP status the server must answer with, e.g.
// ApiError(404, "model 'x' not found"). The message is sent verbatim as {"error": message}.
class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message) : Error("api", message), status_(status), message_(message) {}
  int status() const { return status_; }
  const std::string& message() const { return message_; }  // without the "[api] " prefix

 private:
  int status_;
  std::string message_;
};

// keep_alive (§1.16): absent = use the model's current duration (first load: OLLAMA_KEEP_ALIVE).
struct KeepAlive {
  bool forever = false;               // negative value
  std::chrono::nanoseconds duration{0};  // 0 = unload as soon as idle
};

// Request `options` (§2). Unset = not given (defaults < model parameters < request).
struct Options {
  std::optional<int64_t> num_ctx, num_batch, num_gpu, main_gpu, num_thread, num_keep, seed,
      num_predict, top_k, repeat_last_n, draft_num_predict;
  std::optional<double> top_p, min_p, typical_p, temperature, repeat_penalty, presence_penalty,
      frequency_penalty;
  std::optional<bool> use_mmap;
  std::optional<std::vector<std::string>> stop;
  std::vector<std::string> ignored;  // unknown keys (the server logs a warning)
};

struct Message {
  std::string role;  // lower-cased
  std::string content;
  std::string thinking;
  std::vector<std::string> images;  // base64
  Json tool_calls;                  // null or array (Ollama shape, arguments as objects)
  std::string tool_name, tool_call_id;
};

// /api/generate, /api/chat and the /v1 completions mapped onto them.
struct CompletionRequest {
  enum class Kind { Generate, Chat };
  Kind kind = Kind::Generate;
  std::string model;
  // generate
  std::string prompt;
  std::optional<std::string> system;           // overrides the model's system prompt
  std::optional<std::string> template_override;
  std::optional<std::string> suffix;
  bool raw = false;
  std::vector<int32_t> context;                // deprecated token context
  std::vector<std::string> images;             // base64 (validated), in request order
  // chat
  std::vector<Message> messages;
  Json tools;  // null = no tools
  // both
  Options options;
  std::optional<KeepAlive> keep_alive;
  Json format;                 // null = none; "json" or a schema object
  std::optional<Json> think;   // bool or "low"/"medium"/"high"/"max"
  bool truncate = true;
  bool shift = true;  // context shift instead of an error when generation hits num_ctx
  bool logprobs = false;
  int top_logprobs = 0;
  bool debug_render_only = false;
  // Set by the server: true once the client has disconnected or the server is stopping. Valid
  // only during Service::complete; thread-safe and cheap (rate-limited socket poll). The engine
  // polls it while the request waits for a slot and then throws ApiError(499, "request
  // canceled"); while generating, a sink returning false means the same. Unset in unit tests.
  std::function<bool()> cancelled;
};

struct TopLogprob {
  std::string token;
  double logprob = 0;
  std::vector<uint8_t> bytes;
};
struct TokenLogprob {
  std::string token;
  double logprob = 0;
  std::vector<uint8_t> bytes;
  std::vector<TopLogprob> top;
};

// One piece of streamed output.
struct CompletionChunk {
  std::string content;   // text (response / message.content)
  std::string thinking;  // reasoning text, separate from content
  Json tool_calls;       // null or array of complete tool calls
  std::vector<TokenLogprob> logprobs;
};

// The end of a completion.
struct CompletionResult {
  std::string done_reason;  // "stop", "length", "load", "unload"
  int64_t prompt_eval_count = 0, eval_count = 0;
  std::chrono::nanoseconds total_duration{0}, load_duration{0}, prompt_eval_duration{0},
      eval_duration{0};
  std::vector<int32_t> context;           // generate, non-raw: prompt + output tokens
  std::optional<std::string> rendered;    // _debug_render_only: the rendered prompt
  int image_count = 0;
};

struct ModelDetails {
  std::string parent_model, format = "safetensors", family;
  std::vector<std::string> families;
  std::string parameter_size, quantization_level;
};

// An /api/tags entry.
struct ModelEntry {
  std::string name;  // display-shortest name (§3)
  Clock::time_point modified_at;
  int64_t size = 0;
  std::string digest;  // 64 hex, no prefix
  ModelDetails details;
  std::vector<std::string> capabilities;
};

// /api/show.
struct ModelShow {
  std::string license, modelfile, parameters, template_text, system;
  ModelDetails details;
  Json model_info = Json::object();  // never null
  std::vector<std::string> capabilities;
  Clock::time_point modified_at;
  Json messages;  // null or array
};

// An /api/ps entry.
struct RunningModel {
  std::string name;
  int64_t size = 0, size_vram = 0;
  std::string digest;
  ModelDetails details;
  Clock::time_point expires_at;
  int64_t context_length = 0;
  std::string backend;  // "cpu", "cuda", "mlx" (ollmlx extension)
};

// One progress event of /api/pull or /api/create (compat spec §1.9, §1.11): a status line, and
// for a file transfer its digest, total and completed bytes (left out of the JSON while empty/0).
struct Progress {
  std::string status;
  std::string digest;
  int64_t total = 0;
  int64_t completed = 0;
};
// Called for every progress event; returns false when the client is gone (the operation is then
// cancelled: a pull keeps its partial files for the next pull to resume).
using ProgressSink = std::function<bool(const Progress&)>;

struct PullRequest {
  std::string model;
  bool insecure = false;
};

// /api/create: a new model name over an existing model (`from`) with its Modelfile layer
// changed. `files`/`adapters`/`quantize` (imports and re-quantization) are decoded so that a
// request using them gets a clear error until they are supported.
struct CreateRequest {
  std::string model;
  std::string from;
  std::optional<std::string> template_, system, license;
  Json parameters;  // null or object {name: value | [values]}
  Json messages;    // null or array of {role, content}
  Json files;       // null or object {filename: "sha256:..."}
  Json adapters;    // null or object
  std::string quantize;
};

// Called for every chunk; returns false when the client is gone (the engine then stops the
// generation and frees its slot within one decode step).
using ChunkSink = std::function<bool(const CompletionChunk&)>;

// A request body read in chunks (blob uploads can be many GB): read(sink) calls sink(data, size)
// for each chunk until the body ends or sink returns false, and returns false if the body could
// not be read completely (the client left).
using BodySink = std::function<bool(const char* data, size_t size)>;
using BodyReader = std::function<bool(const BodySink& sink)>;

class Service {
 public:
  virtual ~Service() = default;
  // Runs a completion (or a load/unload when there is no prompt/messages). Blocks until done.
  // Throws ApiError with the status to answer.
  virtual CompletionResult complete(const CompletionRequest& request, const ChunkSink& sink) = 0;
  virtual std::vector<ModelEntry> list_models() = 0;
  virtual ModelShow show(const std::string& name, bool verbose) = 0;
  virtual std::vector<RunningModel> running() = 0;
  virtual void copy(const std::string& source, const std::string& destination) = 0;
  virtual void remove(const std::string& name) = 0;
  // Model store operations; a service without a store answers 501 naming the operation.
  virtual void pull(const PullRequest& request, const ProgressSink& sink);
  virtual void create(const CreateRequest& request, const ProgressSink& sink);
  // /api/blobs/:digest (compat spec §1.14); `digest` is "sha256:<hex>" or "sha256-<hex>" (the
  // server checked the format). has_blob: HEAD's 200/404. put_blob stores the body as that blob
  // and returns true when it was created (201), false when it already existed (200); a body whose
  // sha256 differs is ApiError(400, `digest mismatch, expected "<digest>", got "sha256:<hex>"`).
  virtual bool has_blob(const std::string& digest);
  virtual bool put_blob(const std::string& digest, const BodyReader& body);
};

}  // namespace ollmlx::api
