// Ollama's /api/generate and /api/chat answers: NDJSON chunks, the final metrics object, the
// aggregated stream:false object, load/unload and _debug_render_only objects (GenerateResponse /
// ChatResponse field order and omitempty rules).

#include "api/completion_format.h"
#include "api/encode.h"
#include "api/go_json.h"
#include "api/time_format.h"

namespace ollmlx::api {
namespace {

class NativeFormat final : public CompletionFormat {
 public:
  explicit NativeFormat(const CompletionRequest& r)
      : chat_(r.kind == CompletionRequest::Kind::Chat), model_(r.model) {}

  std::string stream_content_type() const override { return "application/x-ndjson"; }

  std::string chunk(const CompletionChunk& c) override {
    Json calls = has_tool_calls(c.tool_calls) ? native_tool_calls(c.tool_calls, next_tool_index_)
                                              : Json();
    return go_json(object(c.content, c.thinking, calls, c.logprobs, false, nullptr)) + "\n";
  }

  std::string finish(const CompletionResult& r) override {
    return go_json(object("", "", Json(), {}, true, &r)) + "\n";
  }

  std::string stream_error(int, const std::string& message) override {
    return encode_error(message) + "\n";
  }

  void add(const CompletionChunk& c) override {
    content_ += c.content;
    thinking_ += c.thinking;
    if (has_tool_calls(c.tool_calls)) {
      for (auto& call : native_tool_calls(c.tool_calls, next_tool_index_)) {
        tool_calls_.push_back(std::move(call));
      }
    }
    logprobs_.insert(logprobs_.end(), c.logprobs.begin(), c.logprobs.end());
  }

  Body whole(const CompletionResult& r) override {
    return {200, kJsonUtf8,
            go_json(object(content_, thinking_, tool_calls_.empty() ? Json() : tool_calls_,
                           logprobs_, true, &r))};
  }

  Body error(int status, const std::string& message) const override {
    return {status, kJsonUtf8, encode_error(message)};
  }

  std::optional<Body> immediate(const CompletionResult& r) override {
    if (r.rendered) {
      Json o = Json::object();
      o["model"] = model_;
      o["created_at"] = format_time_utc(Clock::now());
      if (chat_) {
        o["message"] = Json{{"role", ""}, {"content", ""}};
        o["done"] = false;
      } else {
        o["response"] = "";
        o["done"] = false;
      }
      Json info = Json::object();
      info["rendered_template"] = *r.rendered;
      if (r.image_count != 0) info["image_count"] = r.image_count;
      o["_debug_info"] = std::move(info);
      return Body{200, kJsonUtf8, go_json(o)};
    }
    if (r.done_reason == "load" || r.done_reason == "unload") {
      return Body{200, kJsonUtf8, go_json(object("", "", Json(), {}, true, &r))};
    }
    return std::nullopt;
  }

 private:
  // One GenerateResponse / ChatResponse; `final` carries done_reason, context and metrics.
  Json object(const std::string& content, const std::string& thinking, const Json& tool_calls,
              const std::vector<TokenLogprob>& logprobs, bool done,
              const CompletionResult* final) const {
    Json o = Json::object();
    o["model"] = model_;
    o["created_at"] = format_time_utc(Clock::now());
    if (chat_) {
      Json m = Json::object();
      m["role"] = "assistant";
      m["content"] = content;
      if (!thinking.empty()) m["thinking"] = thinking;
      if (!tool_calls.is_null()) m["tool_calls"] = tool_calls;
      o["message"] = std::move(m);
      o["done"] = done;
      if (final && !final->done_reason.empty()) o["done_reason"] = final->done_reason;
      if (!logprobs.empty()) o["logprobs"] = logprobs_json(logprobs);
      if (final) add_metrics(o, *final);
      return o;
    }
    o["response"] = content;
    if (!thinking.empty()) o["thinking"] = thinking;
    o["done"] = done;
    if (final && !final->done_reason.empty()) o["done_reason"] = final->done_reason;
    if (final && !final->context.empty()) o["context"] = final->context;
    if (final) add_metrics(o, *final);
    if (!tool_calls.is_null()) o["tool_calls"] = tool_calls;
    if (!logprobs.empty()) o["logprobs"] = logprobs_json(logprobs);
    return o;
  }

  bool chat_;
  std::string model_;
  std::string content_, thinking_;
  Json tool_calls_ = Json::array();
  std::vector<TokenLogprob> logprobs_;
  int64_t next_tool_index_ = 0;
};

}  // namespace

std::unique_ptr<CompletionFormat> native_format(const CompletionRequest& request) {
  return std::make_unique<NativeFormat>(request);
}

}  // namespace ollmlx::api
