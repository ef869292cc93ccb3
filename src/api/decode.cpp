// Native request decoding: Go's struct field types and messages for GenerateRequest,
// ChatRequest, Message, ToolCall and the model-management requests (see decode.h).
#include "api/decode.h"

#include <algorithm>

#include "api/base64.h"
#include "api/go_decode.h"
#include "api/go_json.h"
#include "api/keep_alive.h"
#include "api/options.h"

namespace ollmlx::api {
namespace {

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  });
  return s;
}

std::vector<std::string> decode_images(const Json& v, const GoCtx& c) {
  std::vector<std::string> out;
  for (const auto& e : go_array(v, c, "[]api.ImageData")) {
    if (e.is_null()) {
      out.emplace_back();
      continue;
    }
    if (!e.is_string()) throw_type_error(e, "api.ImageData", c);
    const auto& s = e.get_ref<const std::string&>();
    if (const auto off = base64_error_offset(s)) {
      throw ApiError(400, "illegal base64 data at input byte " + std::to_string(*off));
    }
    out.push_back(s);
  }
  return out;
}

std::vector<int32_t> decode_context(const Json& v, const GoCtx& c) {
  std::vector<int32_t> out;
  for (const auto& e : go_array(v, c, "[]int")) {
    // Token ids beyond int32 cannot name a token; the engine rejects them as unknown ids.
    out.push_back(e.is_null() ? 0 : static_cast<int32_t>(go_int(e, c)));
  }
  return out;
}

// A tool call in Ollama's shape, normalized to {"id"?, "function": {index, name, arguments}}.
Json decode_tool_call(const Json& v, const GoCtx& c) {
  if (!v.is_object()) throw_type_error(v, "api.ToolCall", c);
  const GoCtx tc = c.in("ToolCall");
  std::string id, name;
  int64_t index = 0;
  Json arguments = Json::object();
  for_each_field(v, {"id", "function"}, [&](std::string_view f, const Json& x) {
    if (f == "id") {
      id = go_string(x, tc.at("id"));
      return;
    }
    const GoCtx fc = tc.at("function");
    go_object(x, fc, "api.ToolCallFunction");
    const GoCtx fn = fc.in("ToolCallFunction");
    for_each_field(x, {"index", "name", "arguments"}, [&](std::string_view g, const Json& y) {
      if (g == "index") index = go_int(y, fn.at("index"));
      else if (g == "name") name = go_string(y, fn.at("name"));
      else arguments = go_object(y, fn.at("arguments"), "api.ToolCallFunctionArguments");
    });
  });
  Json out = Json::object();
  if (!id.empty()) out["id"] = id;
  out["function"] = Json{{"index", index}, {"name", name}, {"arguments", arguments}};
  return out;
}

Message decode_message(const Json& v, const GoCtx& c) {
  if (!v.is_object()) throw_type_error(v, "api.Message", c);
  const GoCtx m = c.in("Message");
  Message msg;
  for_each_field(
      v, {"role", "content", "thinking", "images", "tool_calls", "tool_name", "tool_call_id"},
      [&](std::string_view f, const Json& x) {
        if (f == "role") msg.role = go_string(x, m.at(f));
        else if (f == "content") msg.content = go_string(x, m.at(f));
        else if (f == "thinking") msg.thinking = go_string(x, m.at(f));
        else if (f == "images") msg.images = decode_images(x, m.at(f));
        else if (f == "tool_name") msg.tool_name = go_string(x, m.at(f));
        else if (f == "tool_call_id") msg.tool_call_id = go_string(x, m.at(f));
        else {  // tool_calls
          Json calls = Json::array();
          for (const auto& e : go_array(x, m.at(f), "[]api.ToolCall")) {
            calls.push_back(decode_tool_call(e, m.at(f)));
          }
          msg.tool_calls = calls.empty() ? Json() : calls;
        }
      });
  msg.role = to_lower(msg.role);
  return msg;
}

Json decode_tools(const Json& v, const GoCtx& c) {
  for (const auto& e : go_array(v, c, "api.Tools")) {
    if (!e.is_null() && !e.is_object()) throw_type_error(e, "api.Tool", c);
  }
  return v.empty() ? Json() : v;
}

// Fields shared by generate and chat. Returns false if `f` is not one of them.
bool common_field(std::string_view f, const Json& x, const GoCtx& c, NativeCompletion& out,
                  Json& options) {
  CompletionRequest& r = out.request;
  if (f == "model") r.model = go_string(x, c.at(f));
  else if (f == "stream") out.stream = go_bool(x, c.at(f));
  else if (f == "format") r.format = x;  // json.RawMessage: any value; checked later
  else if (f == "keep_alive") r.keep_alive = parse_keep_alive(x);
  else if (f == "options") options = x;
  else if (f == "think") r.think = decode_think(x);
  else if (f == "truncate") r.truncate = go_bool(x, c.at(f));
  else if (f == "shift") r.shift = go_bool(x, c.at(f));
  else if (f == "_debug_render_only") r.debug_render_only = go_bool(x, c.at(f));
  else if (f == "logprobs") r.logprobs = go_bool(x, c.at(f));
  else if (f == "top_logprobs") r.top_logprobs = static_cast<int>(
      std::clamp<int64_t>(go_int(x, c.at(f)), -1, 1000));
  else return false;
  return true;
}

// The checks that follow field decoding, in Ollama's order.
void finish_completion(NativeCompletion& out, const Json& options, const char* go_struct) {
  validate_completion(out.request);
  out.request.options = decode_options(options, go_struct);
  out.request.format = decode_format(out.request.format);
}

std::string either(const std::string& a, const std::string& b) { return a.empty() ? b : a; }

ModelCall decode_model_call(std::string_view body, const char* go_struct,
                            std::initializer_list<std::string_view> extra_string_fields) {
  const Json obj = parse_request_object(body, go_struct);
  const GoCtx c{go_struct, ""};
  ModelCall call;
  std::string model, name;
  for_each_field(obj, {"model", "name", "stream"}, [&](std::string_view f, const Json& x) {
    if (f == "model") model = go_string(x, c.at(f));
    else if (f == "name") name = go_string(x, c.at(f));
    else call.stream = go_bool(x, c.at(f));
  });
  for_each_field(obj, extra_string_fields,
                 [&](std::string_view f, const Json& x) { go_string(x, c.at(f)); });
  call.model = either(model, name);
  return call;
}

}  // namespace

Json parse_request_object(std::string_view body, std::string_view go_type) {
  Json v = parse_go_json(body);
  if (v.is_null()) return Json::object();
  if (!v.is_object()) throw_type_error(v, "api." + std::string(go_type), GoCtx{});
  return v;
}

Json decode_think(const Json& value) {
  static const char* kAllowed = "\"high\", \"medium\", \"low\", \"max\", true, or false";
  if (value.is_boolean()) return value;
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s == "high" || s == "medium" || s == "low" || s == "max") return value;
    throw ApiError(400, "invalid think value: " + go_quote(s) + " (must be " + kAllowed + ")");
  }
  throw ApiError(400, std::string("think must be a boolean or string (") + kAllowed + ")");
}

Json decode_format(const Json& value) {
  if (value.is_null()) return Json();
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s.empty()) return Json();
    if (s == "json") return value;
  }
  if (value.is_object()) return value;
  throw ApiError(400, "invalid format: " + go_quote(go_json(value)) +
                          "; expected \"json\" or a valid JSON Schema object");
}

void validate_completion(const CompletionRequest& r) {
  if (r.top_logprobs < 0 || r.top_logprobs > 20) {
    throw ApiError(400, "top_logprobs must be between 0 and 20");
  }
  if (r.kind == CompletionRequest::Kind::Generate) {
    if (r.model.empty()) throw ApiError(404, "model '' not found");
    if (r.raw && (r.template_override || r.system || !r.context.empty())) {
      throw ApiError(400, "raw mode does not support template, system, or context");
    }
  } else if (r.model.empty()) {
    throw ApiError(400, "model is required");
  }
}

NativeCompletion decode_generate(std::string_view body) {
  const Json obj = parse_request_object(body, "GenerateRequest");
  const GoCtx c{"GenerateRequest", ""};
  NativeCompletion out;
  CompletionRequest& r = out.request;
  r.kind = CompletionRequest::Kind::Generate;
  Json options;
  for_each_field(
      obj,
      {"model", "prompt", "suffix", "system", "template", "context", "stream", "raw", "format",
       "keep_alive", "images", "options", "think", "truncate", "shift", "_debug_render_only",
       "logprobs", "top_logprobs", "width", "height", "steps"},
      [&](std::string_view f, const Json& x) {
        if (common_field(f, x, c, out, options)) return;
        if (f == "prompt") r.prompt = go_string(x, c.at(f));
        else if (f == "suffix") {
          std::string s = go_string(x, c.at(f));
          r.suffix = s.empty() ? std::nullopt : std::optional<std::string>(std::move(s));
        } else if (f == "system") {
          std::string s = go_string(x, c.at(f));
          r.system = s.empty() ? std::nullopt : std::optional<std::string>(std::move(s));
        } else if (f == "template") {
          std::string s = go_string(x, c.at(f));
          r.template_override = s.empty() ? std::nullopt : std::optional<std::string>(std::move(s));
        } else if (f == "context") r.context = decode_context(x, c.at(f));
        else if (f == "raw") r.raw = go_bool(x, c.at(f));
        else if (f == "images") r.images = decode_images(x, c.at(f));
        else go_int(x, c.at(f), "int32");  // width/height/steps: image generation, unused
      });
  finish_completion(out, options, "GenerateRequest");
  return out;
}

NativeCompletion decode_chat(std::string_view body) {
  const Json obj = parse_request_object(body, "ChatRequest");
  const GoCtx c{"ChatRequest", ""};
  NativeCompletion out;
  CompletionRequest& r = out.request;
  r.kind = CompletionRequest::Kind::Chat;
  Json options;
  for_each_field(obj,
                 {"model", "messages", "stream", "format", "keep_alive", "tools", "options",
                  "think", "truncate", "shift", "_debug_render_only", "logprobs", "top_logprobs"},
                 [&](std::string_view f, const Json& x) {
                   if (common_field(f, x, c, out, options)) return;
                   if (f == "messages") {
                     r.messages.clear();
                     for (const auto& m : go_array(x, c.at(f), "[]api.Message")) {
                       if (m.is_null()) {
                         r.messages.emplace_back();
                         continue;
                       }
                       r.messages.push_back(decode_message(m, c.at(f)));
                     }
                   } else {
                     r.tools = decode_tools(x, c.at(f));
                   }
                 });
  finish_completion(out, options, "ChatRequest");
  return out;
}

ShowCall decode_show(std::string_view body) {
  const Json obj = parse_request_object(body, "ShowRequest");
  const GoCtx c{"ShowRequest", ""};
  ShowCall call;
  std::string model, name;
  for_each_field(obj, {"model", "system", "template", "verbose", "options", "name"},
                 [&](std::string_view f, const Json& x) {
                   if (f == "model") model = go_string(x, c.at(f));
                   else if (f == "name") name = go_string(x, c.at(f));
                   else if (f == "system") call.system = go_string(x, c.at(f));
                   else if (f == "template") go_string(x, c.at(f));
                   else if (f == "verbose") call.verbose = go_bool(x, c.at(f));
                   else go_object(x, c.at(f), "map[string]interface {}");
                 });
  call.model = either(model, name);
  if (call.model.empty()) throw ApiError(400, "model is required");
  return call;
}

CopyCall decode_copy(std::string_view body) {
  const Json obj = parse_request_object(body, "CopyRequest");
  const GoCtx c{"CopyRequest", ""};
  CopyCall call;
  for_each_field(obj, {"source", "destination"}, [&](std::string_view f, const Json& x) {
    (f == "source" ? call.source : call.destination) = go_string(x, c.at(f));
  });
  if (call.source.empty()) throw ApiError(400, "source \"\" is invalid");
  if (call.destination.empty()) throw ApiError(400, "destination \"\" is invalid");
  return call;
}

ModelCall decode_delete(std::string_view body) {
  ModelCall call = decode_model_call(body, "DeleteRequest", {});
  if (call.model.empty()) throw ApiError(400, "name \"\" is invalid");
  return call;
}

ModelCall decode_pull(std::string_view body) {
  ModelCall call = decode_model_call(body, "PullRequest", {"username", "password"});
  if (call.model.empty()) throw ApiError(400, "invalid model name");
  return call;
}

ModelCall decode_push(std::string_view body) {
  ModelCall call = decode_model_call(body, "PushRequest", {"username", "password"});
  if (call.model.empty()) throw ApiError(400, "model is required");
  return call;
}

ModelCall decode_create(std::string_view body) {
  ModelCall call =
      decode_model_call(body, "CreateRequest", {"from", "quantize", "template", "system"});
  if (call.model.empty()) throw ApiError(400, "invalid model name");
  return call;
}

CreateRequest decode_create_request(std::string_view body) {
  const Json obj = parse_request_object(body, "CreateRequest");
  const GoCtx c{"CreateRequest", ""};
  CreateRequest r;
  std::string model, name;
  for_each_field(obj,
                 {"model", "name", "from", "template", "system", "license", "parameters",
                  "messages", "files", "adapters", "quantize", "quantization"},
                 [&](std::string_view f, const Json& x) {
                   if (f == "model") model = go_string(x, c.at(f));
                   else if (f == "name") name = go_string(x, c.at(f));
                   else if (f == "from") r.from = go_string(x, c.at(f));
                   else if (f == "template") r.template_ = go_string(x, c.at(f));
                   else if (f == "system") r.system = go_string(x, c.at(f));
                   else if (f == "license") {
                     if (x.is_null()) return;
                     std::string text;
                     if (x.is_string()) {
                       text = x.get<std::string>();
                     } else {
                       for (const auto& part : go_string_slice(x, c.at(f))) {
                         if (!text.empty()) text += "\n";
                         text += part;
                       }
                     }
                     r.license = text;
                   } else if (f == "parameters") {
                     if (!x.is_null()) r.parameters = go_object(x, c.at(f), "map[string]interface {}");
                   } else if (f == "messages") {
                     if (x.is_null()) return;
                     r.messages = go_array(x, c.at(f), "[]api.Message");
                     for (const auto& m : r.messages) {
                       if (!m.is_object()) throw ApiError(400, "messages must be objects with a role and content");
                     }
                   } else if (f == "files") {
                     if (!x.is_null()) r.files = go_object(x, c.at(f), "map[string]string");
                   } else if (f == "adapters") {
                     if (!x.is_null()) r.adapters = go_object(x, c.at(f), "map[string]string");
                   } else {
                     const std::string q = go_string(x, c.at(f));
                     if (!q.empty()) r.quantize = q;
                   }
                 });
  r.model = either(model, name);
  if (r.model.empty()) throw ApiError(400, "invalid model name");
  return r;
}

EmbedCall decode_embed(std::string_view body) {
  const Json obj = parse_request_object(body, "EmbedRequest");
  const GoCtx c{"EmbedRequest", ""};
  EmbedCall call;
  Json options;
  for_each_field(obj, {"model", "input", "keep_alive", "truncate", "dimensions", "options"},
                 [&](std::string_view f, const Json& x) {
                   if (f == "model") call.model = go_string(x, c.at(f));
                   else if (f == "input") call.input = x;
                   else if (f == "keep_alive") call.keep_alive = parse_keep_alive(x);
                   else if (f == "truncate") call.truncate = go_bool(x, c.at(f));
                   else if (f == "dimensions") call.dimensions = go_int(x, c.at(f));
                   else options = x;
                 });
  if (call.model.empty()) throw ApiError(404, "model '' not found");
  const Json& in = call.input;
  bool ok = in.is_null() || in.is_string() || in.is_array();
  if (in.is_array()) {
    for (const auto& e : in) ok = ok && e.is_string();
  }
  if (!ok) throw ApiError(400, "invalid input type");
  call.options = decode_options(options, "EmbedRequest");
  return call;
}

EmbedCall decode_embeddings(std::string_view body) {
  const Json obj = parse_request_object(body, "EmbeddingRequest");
  const GoCtx c{"EmbeddingRequest", ""};
  EmbedCall call;
  Json options;
  for_each_field(obj, {"model", "prompt", "keep_alive", "options"},
                 [&](std::string_view f, const Json& x) {
                   if (f == "model") call.model = go_string(x, c.at(f));
                   else if (f == "prompt") call.input = go_string(x, c.at(f));
                   else if (f == "keep_alive") call.keep_alive = parse_keep_alive(x);
                   else options = x;
                 });
  if (call.model.empty()) throw ApiError(400, "model is required");
  call.options = decode_options(options, "EmbeddingRequest");
  return call;
}

}  // namespace ollmlx::api
