// /v1 answers: chat.completion(.chunk) and text_completion objects, the SSE sequence (role in
// the first chunk only, one shared `created`, reasoning split from content, a finish chunk with
// an empty delta, the optional usage chunk, `data: [DONE]`), model objects and OpenAI errors.
#include <algorithm>

#include "api/encode.h"
#include "api/go_json.h"
#include "api/openai.h"
#include "api/time_format.h"
#include "api/utf8.h"

namespace ollmlx::api {
namespace {

constexpr const char* kJson = "application/json";

std::string sse(const Json& v) { return "data: " + go_json(v) + "\n\n"; }
std::string done_event() { return "data: [DONE]\n\n"; }

Json usage_json(int64_t prompt, int64_t completion) {
  return Json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion}};
}

// OpenAI tool calls from the engine's (Ollama-shape) ones; arguments become a JSON string.
Json openai_tool_calls(const Json& calls, int64_t& next_index) {
  Json out = Json::array();
  for (const auto& c : native_tool_calls(calls, next_index)) {
    Json o = Json::object();
    o["id"] = c.contains("id") ? c["id"] : Json(new_tool_call_id());
    o["index"] = c["function"]["index"];
    o["type"] = "function";
    o["function"] = Json{{"name", c["function"]["name"]},
                         {"arguments", go_json(c["function"]["arguments"])}};
    out.push_back(std::move(o));
  }
  return out;
}

Json finish_reason(const std::string& reason, bool tool_calls, bool final_chunk) {
  if (reason.empty()) return final_chunk ? Json("stop") : Json();
  if (tool_calls && reason == "stop") return Json("tool_calls");
  return Json(reason);
}

class ChatFormat final : public CompletionFormat {
 public:
  explicit ChatFormat(const OpenAICompletion& call)
      : id_(call.id), created_(call.created), model_(call.request.model),
        include_usage_(call.include_usage) {}

  std::string stream_content_type() const override { return "text/event-stream"; }

  std::string chunk(const CompletionChunk& c) override {
    const Json calls = has_tool_calls(c.tool_calls) ? openai_tool_calls(c.tool_calls, next_index_)
                                                    : Json();
    if (!calls.is_null()) tool_call_sent_ = true;
    if (!c.thinking.empty() && (!c.content.empty() || !calls.is_null())) {
      std::string out = sse(event(delta("", c.thinking, Json()), c.logprobs, Json()));
      return out + sse(event(delta(c.content, "", calls), {}, Json()));
    }
    return sse(event(delta(c.content, c.thinking, calls), c.logprobs, Json()));
  }

  std::string finish(const CompletionResult& r) override {
    std::string out;
    if (!role_sent_) out += sse(event(delta("", "", Json()), {}, Json()));
    out += sse(event(Json::object(), {}, finish_reason(r.done_reason, tool_call_sent_, true)));
    if (include_usage_) {
      Json u = header("chat.completion.chunk");
      u["choices"] = Json::array();
      u["usage"] = usage_json(r.prompt_eval_count, r.eval_count);
      out += sse(u);
    }
    return out + done_event();
  }

  std::string stream_error(int status, const std::string& message) override {
    return sse(openai_error_json(status, message));
  }

  void add(const CompletionChunk& c) override {
    content_ += c.content;
    reasoning_ += c.thinking;
    if (has_tool_calls(c.tool_calls)) {
      for (auto& call : openai_tool_calls(c.tool_calls, next_index_)) {
        tool_calls_.push_back(std::move(call));
      }
    }
    logprobs_.insert(logprobs_.end(), c.logprobs.begin(), c.logprobs.end());
  }

  Body whole(const CompletionResult& r) override {
    return {200, kJson, go_json(completion(r)) + "\n"};
  }

  Body error(int status, const std::string& message) const override {
    return openai_error(status, message);
  }

  std::optional<Body> immediate(const CompletionResult& r) override {
    if (!r.rendered) return std::nullopt;
    Json o = completion(r);
    Json info = Json::object();
    info["rendered_template"] = *r.rendered;
    if (r.image_count != 0) info["image_count"] = r.image_count;
    o["_debug_info"] = std::move(info);
    return Body{200, kJson, go_json(o) + "\n"};
  }

 private:
  Json header(const char* object) const {
    Json o = Json::object();
    o["id"] = id_;
    o["object"] = object;
    o["created"] = created_;
    o["model"] = model_;
    o["system_fingerprint"] = "fp_ollama";
    return o;
  }

  Json delta(const std::string& content, const std::string& reasoning, const Json& calls) {
    Json d = Json::object();
    if (!role_sent_) {
      d["role"] = "assistant";
      role_sent_ = true;
    }
    d["content"] = content;
    if (!reasoning.empty()) d["reasoning"] = reasoning;
    if (!calls.is_null()) d["tool_calls"] = calls;
    return d;
  }

  Json event(Json d, const std::vector<TokenLogprob>& logprobs, Json reason) const {
    Json choice = Json::object();
    choice["index"] = 0;
    choice["delta"] = std::move(d);
    choice["finish_reason"] = std::move(reason);
    if (!logprobs.empty()) choice["logprobs"] = Json{{"content", logprobs_json(logprobs)}};
    Json o = header("chat.completion.chunk");
    o["choices"] = Json::array({std::move(choice)});
    return o;
  }

  Json completion(const CompletionResult& r) const {
    Json msg = Json::object();
    msg["role"] = "assistant";
    msg["content"] = content_;
    if (!reasoning_.empty()) msg["reasoning"] = reasoning_;
    if (!tool_calls_.empty()) msg["tool_calls"] = tool_calls_;
    Json choice = Json::object();
    choice["index"] = 0;
    choice["message"] = std::move(msg);
    choice["finish_reason"] = finish_reason(r.done_reason, !tool_calls_.empty(), false);
    if (!logprobs_.empty()) choice["logprobs"] = Json{{"content", logprobs_json(logprobs_)}};
    Json o = header("chat.completion");
    o["choices"] = Json::array({std::move(choice)});
    o["usage"] = usage_json(r.prompt_eval_count, r.eval_count);
    return o;
  }

  std::string id_;
  int64_t created_;
  std::string model_;
  bool include_usage_;
  bool role_sent_ = false;
  bool tool_call_sent_ = false;
  int64_t next_index_ = 0;
  std::string content_, reasoning_;
  Json tool_calls_ = Json::array();
  std::vector<TokenLogprob> logprobs_;
};

// Legacy completions logprobs: {"tokens","token_logprobs","top_logprobs","text_offset"}.
Json legacy_logprobs(const std::vector<TokenLogprob>& lps, int64_t& offset) {
  Json tokens = Json::array(), values = Json::array(), top = Json::array(),
       offsets = Json::array();
  for (const auto& lp : lps) {
    tokens.push_back(lp.token);
    values.push_back(lp.logprob);
    Json alts = Json::object();
    for (const auto& t : lp.top) alts[t.token] = t.logprob;
    top.push_back(std::move(alts));
    offsets.push_back(offset);
    for (size_t i = 0; i < lp.token.size();) {  // offsets count characters, as OpenAI's do
      i += utf8_decode(std::string_view(lp.token).substr(i)).size;
      ++offset;
    }
  }
  return Json{{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", top},
              {"text_offset", offsets}};
}

class TextFormat final : public CompletionFormat {
 public:
  explicit TextFormat(const OpenAICompletion& call)
      : id_(call.id), created_(call.created), model_(call.request.model),
        include_usage_(call.include_usage) {}

  std::string stream_content_type() const override { return "text/event-stream"; }

  std::string chunk(const CompletionChunk& c) override {
    if (c.content.empty() && c.logprobs.empty()) return "";
    return sse(event(c.content, Json(), c.logprobs));
  }

  std::string finish(const CompletionResult& r) override {
    std::string out = sse(event("", finish_reason(r.done_reason, false, true), {}));
    if (include_usage_) {
      Json u = header(false);
      u["choices"] = Json::array();
      u["model"] = model_;
      u["system_fingerprint"] = "fp_ollama";
      u["usage"] = usage_json(r.prompt_eval_count, r.eval_count);
      out += sse(u);
    }
    return out + done_event();
  }

  std::string stream_error(int status, const std::string& message) override {
    return sse(openai_error_json(status, message));
  }

  void add(const CompletionChunk& c) override {
    text_ += c.content;
    logprobs_.insert(logprobs_.end(), c.logprobs.begin(), c.logprobs.end());
  }

  Body whole(const CompletionResult& r) override {
    Json choice = Json::object();
    choice["text"] = text_;
    choice["index"] = 0;
    choice["finish_reason"] = finish_reason(r.done_reason, false, false);
    int64_t offset = 0;
    if (!logprobs_.empty()) choice["logprobs"] = legacy_logprobs(logprobs_, offset);
    Json o = header(true);
    o["choices"] = Json::array({std::move(choice)});
    o["usage"] = usage_json(r.prompt_eval_count, r.eval_count);
    return {200, kJson, go_json(o) + "\n"};
  }

  Body error(int status, const std::string& message) const override {
    return openai_error(status, message);
  }

  std::optional<Body> immediate(const CompletionResult& r) override {
    if (!r.rendered) return std::nullopt;
    Body b = whole(r);
    Json o = parse_go_json(b.data);
    o["_debug_info"] = Json{{"rendered_template", *r.rendered}};
    if (r.image_count != 0) o["_debug_info"]["image_count"] = r.image_count;
    b.data = go_json(o) + "\n";
    return b;
  }

 private:
  // Completion: id, object, created, model, system_fingerprint. Chunks put choices before
  // model (Ollama's CompletionChunk field order), so they add model themselves.
  Json header(bool with_model) const {
    Json o = Json::object();
    o["id"] = id_;
    o["object"] = "text_completion";
    o["created"] = created_;
    if (with_model) {
      o["model"] = model_;
      o["system_fingerprint"] = "fp_ollama";
    }
    return o;
  }

  Json event(const std::string& text, Json reason, const std::vector<TokenLogprob>& lps) {
    Json choice = Json::object();
    choice["text"] = text;
    choice["index"] = 0;
    choice["finish_reason"] = std::move(reason);
    if (!lps.empty()) choice["logprobs"] = legacy_logprobs(lps, stream_offset_);
    Json o = header(false);
    o["choices"] = Json::array({std::move(choice)});
    o["model"] = model_;
    o["system_fingerprint"] = "fp_ollama";
    if (include_usage_) o["usage"] = usage_json(0, 0);
    return o;
  }

  std::string id_;
  int64_t created_;
  std::string model_;
  bool include_usage_;
  std::string text_;
  std::vector<TokenLogprob> logprobs_;
  int64_t stream_offset_ = 0;
};

}  // namespace

Json openai_error_json(int status, const std::string& message) {
  const char* type = status == 400 ? "invalid_request_error"
                     : status == 404 ? "not_found_error"
                                     : "api_error";
  Json e = Json::object();
  e["message"] = message;
  e["type"] = type;
  e["param"] = nullptr;
  e["code"] = nullptr;
  return Json{{"error", e}};
}

Body openai_error(int status, const std::string& message) {
  return {status, kJson, go_json(openai_error_json(status, message)) + "\n"};
}

std::string model_namespace(std::string_view name) {
  if (const auto p = name.find("://"); p != std::string_view::npos) name.remove_prefix(p + 3);
  if (const auto at = name.rfind('@'); at != std::string_view::npos) name = name.substr(0, at);
  const auto slash = name.rfind('/');
  const auto colon = name.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    name = name.substr(0, colon);
  }
  if (slash == std::string_view::npos) return "library";
  const std::string_view rest = name.substr(0, slash);
  const auto prev = rest.rfind('/');
  const std::string_view ns = prev == std::string_view::npos ? rest : rest.substr(prev + 1);
  return ns.empty() ? "library" : std::string(ns);
}

std::string encode_openai_models(const std::vector<ModelEntry>& models) {
  std::vector<const ModelEntry*> sorted;
  for (const auto& m : models) sorted.push_back(&m);
  std::stable_sort(sorted.begin(), sorted.end(), [](const ModelEntry* a, const ModelEntry* b) {
    return a->modified_at > b->modified_at;
  });
  Json data = Json::array();  // Ollama writes null for no models; strict SDKs want []
  for (const auto* m : sorted) {
    data.push_back(Json{{"id", m->name},
                        {"object", "model"},
                        {"created", unix_seconds(m->modified_at)},
                        {"owned_by", model_namespace(m->name)}});
  }
  return go_json(Json{{"object", "list"}, {"data", data}}) + "\n";
}

std::string encode_openai_model(const std::string& id, const ModelShow& show) {
  return go_json(Json{{"id", id},
                      {"object", "model"},
                      {"created", unix_seconds(show.modified_at)},
                      {"owned_by", model_namespace(id)}}) +
         "\n";
}

std::unique_ptr<CompletionFormat> openai_chat_format(const OpenAICompletion& call) {
  return std::make_unique<ChatFormat>(call);
}

std::unique_ptr<CompletionFormat> openai_completion_format(const OpenAICompletion& call) {
  return std::make_unique<TextFormat>(call);
}

}  // namespace ollmlx::api
