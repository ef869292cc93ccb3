// /v1 request decoding: OpenAI's chat, completion and embedding requests mapped onto the neutral
// requests the way Ollama's OpenAI middleware maps them (content parts, data-URL images, tool
// call arguments as JSON strings, temperature/top_p defaults, response_format, reasoning effort).
#include <algorithm>
#include <random>

#include "api/base64.h"
#include "api/decode.h"
#include "api/go_decode.h"
#include "api/go_json.h"
#include "api/openai.h"
#include "api/time_format.h"

namespace ollmlx::api {
namespace {

constexpr const char* kAnonFunction =
    "struct { Name string \"json:\\\"name\\\"\"; Arguments string \"json:\\\"arguments\\\"\" }";

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n\v\f");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n\v\f") - b + 1);
}

int random_below(int n) {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_int_distribution<int>(0, n - 1)(rng);
}

// Go's %T of a decoded JSON value.
std::string go_dynamic_type(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "<nil>";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "bool";
    case Json::value_t::array: return "[]interface {}";
    case Json::value_t::object: return "map[string]interface {}";
    default: return "float64";
  }
}

// An OpenAI assistant tool call: {"id","index","type","function":{"name","arguments":"<json>"}}.
struct WireToolCall {
  std::string id, name, arguments;
};

struct WireMessage {
  std::string role;
  Json content;  // any; null when absent
  std::string reasoning, name, tool_call_id;
  std::vector<WireToolCall> tool_calls;
  bool has_tool_calls = false;  // a non-null tool_calls member (Go: slice != nil)
};

WireToolCall decode_wire_tool_call(const Json& v, const GoCtx& c) {
  if (!v.is_object()) throw_type_error(v, "openai.ToolCall", c);
  const GoCtx t = c.in("ToolCall");
  WireToolCall call;
  for_each_field(v, {"id", "index", "type", "function"}, [&](std::string_view f, const Json& x) {
    if (f == "id") call.id = go_string(x, t.at(f));
    else if (f == "index") go_int(x, t.at(f));
    else if (f == "type") go_string(x, t.at(f));
    else {
      const GoCtx fc = t.at(f);
      if (!x.is_object()) throw_type_error(x, kAnonFunction, fc);
      const GoCtx anon = fc.in("");
      for_each_field(x, {"name", "arguments"}, [&](std::string_view g, const Json& y) {
        (g == "name" ? call.name : call.arguments) = go_string(y, anon.at(g));
      });
    }
  });
  return call;
}

WireMessage decode_wire_message(const Json& v, const GoCtx& c) {
  if (!v.is_object()) throw_type_error(v, "openai.Message", c);
  const GoCtx m = c.in("Message");
  WireMessage msg;
  for_each_field(v, {"role", "content", "reasoning", "tool_calls", "name", "tool_call_id"},
                 [&](std::string_view f, const Json& x) {
                   if (f == "role") msg.role = go_string(x, m.at(f));
                   else if (f == "content") msg.content = x;
                   else if (f == "reasoning") msg.reasoning = go_string(x, m.at(f));
                   else if (f == "name") msg.name = go_string(x, m.at(f));
                   else if (f == "tool_call_id") msg.tool_call_id = go_string(x, m.at(f));
                   else {
                     msg.has_tool_calls = true;
                     for (const auto& e : go_array(x, m.at(f), "[]openai.ToolCall")) {
                       msg.tool_calls.push_back(decode_wire_tool_call(e, m.at(f)));
                     }
                   }
                 });
  return msg;
}

// Ollama-shape tool calls from OpenAI ones (arguments parsed from their JSON string).
Json native_calls(const std::vector<WireToolCall>& calls) {
  if (calls.empty()) return Json();
  Json out = Json::array();
  for (const auto& tc : calls) {
    Json args;
    try {
      args = parse_go_json(tc.arguments);
    } catch (const ApiError&) {
      throw ApiError(400, "invalid tool call arguments");
    }
    // Go decodes into an ordered map: anything but an object (null stays empty) is refused.
    if (args.is_null()) args = Json::object();
    if (!args.is_object()) throw ApiError(400, "invalid tool call arguments");
    Json call = Json::object();
    if (!tc.id.empty()) call["id"] = tc.id;
    call["function"] = Json{{"index", 0}, {"name", tc.name}, {"arguments", args}};
    out.push_back(std::move(call));
  }
  return out;
}

// The base64 payload of a data URL, as Ollama's decodeImageURL accepts it.
std::string image_from_url(const std::string& url) {
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    throw ApiError(400,
                   "image URLs are not currently supported, please use base64 encoded data "
                   "instead");
  }
  std::string data;
  if (url.rfind("data:;base64,", 0) == 0) {
    data = url.substr(13);
  } else {
    bool ok = false;
    for (const char* t : {"jpeg", "jpg", "png", "webp"}) {
      const std::string prefix = std::string("data:image/") + t + ";base64,";
      if (url.rfind(prefix, 0) == 0) {
        data = url.substr(prefix.size());
        ok = true;
        break;
      }
    }
    if (!ok) throw ApiError(400, "invalid image input");
  }
  if (base64_error_offset(data)) throw ApiError(400, "invalid image input");
  return data;
}

std::string tool_name_for(const std::vector<WireMessage>& all, const std::string& id) {
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    for (const auto& tc : it->tool_calls) {
      if (tc.id == id) return tc.name;
    }
  }
  return "";
}

std::vector<Message> to_messages(const std::vector<WireMessage>& wire) {
  std::vector<Message> out;
  for (const auto& w : wire) {
    const std::string role = to_lower(w.role);
    std::string tool_name;
    if (role == "tool") {
      tool_name = w.name;
      if (tool_name.empty() && !w.tool_call_id.empty()) {
        tool_name = tool_name_for(wire, w.tool_call_id);
      }
    }
    if (w.content.is_string()) {
      Message m;
      m.role = role;
      m.content = w.content.get<std::string>();
      m.thinking = w.reasoning;
      m.tool_calls = native_calls(w.tool_calls);
      m.tool_name = tool_name;
      m.tool_call_id = w.tool_call_id;
      out.push_back(std::move(m));
    } else if (w.content.is_array()) {
      for (const auto& part : w.content) {
        if (!part.is_object()) throw ApiError(400, "invalid message format");
        const Json type = part.contains("type") ? part["type"] : Json();
        Message m;
        m.role = role;
        if (type == "text") {
          if (!part.contains("text") || !part["text"].is_string()) {
            throw ApiError(400, "invalid message format");
          }
          m.content = part["text"].get<std::string>();
        } else if (type == "image_url") {
          const Json iu = part.contains("image_url") ? part["image_url"] : Json();
          std::string url;
          if (iu.is_object()) {
            if (!iu.contains("url") || !iu["url"].is_string()) {
              throw ApiError(400, "invalid message format");
            }
            url = iu["url"].get<std::string>();
          } else if (iu.is_string()) {
            url = iu.get<std::string>();
          } else {
            throw ApiError(400, "invalid message format");
          }
          m.images.push_back(image_from_url(url));
        } else if (type == "input_audio") {
          const Json ia = part.contains("input_audio") ? part["input_audio"] : Json();
          if (!ia.is_object() || !ia.contains("data") || !ia["data"].is_string()) {
            throw ApiError(400, "invalid message format");
          }
          const auto& data = ia["data"].get_ref<const std::string&>();
          if (base64_error_offset(data)) throw ApiError(400, "invalid audio input");
          m.images.push_back(data);
        } else {
          throw ApiError(400, "invalid message format");
        }
        out.push_back(std::move(m));
      }
      // Tool calls (and their bookkeeping) go on the last message the parts produced.
      if (!out.empty() && !w.tool_calls.empty()) {
        Message& last = out.back();
        last.tool_calls = native_calls(w.tool_calls);
        last.tool_name = tool_name;
        last.tool_call_id = w.tool_call_id;
        last.thinking = w.reasoning;
      }
    } else {
      // Content may be absent only when the message carries tool calls.
      if (!w.has_tool_calls) {
        throw ApiError(400, "invalid message content type: " + go_dynamic_type(w.content));
      }
      Message m;
      m.role = role;
      m.thinking = w.reasoning;
      m.tool_calls = native_calls(w.tool_calls);
      m.tool_call_id = w.tool_call_id;
      out.push_back(std::move(m));
    }
  }
  return out;
}

// reasoning_effort / reasoning.effort onto `think`.
Json think_from_effort(const std::string& effort) {
  if (effort == "none") return Json(false);
  if (effort == "minimal") return Json("low");
  if (effort == "low" || effort == "medium" || effort == "high" || effort == "max") {
    return Json(effort);
  }
  if (effort == "xhigh" || effort == "ultra") return Json("max");
  throw ApiError(400, "invalid reasoning value: '" + effort +
                          "' (must be \"none\", \"minimal\", \"low\", \"medium\", \"high\", "
                          "\"xhigh\", or \"max\")");
}

bool decode_stream_options(const Json& x, const GoCtx& c) {
  if (!x.is_object()) throw_type_error(x, "openai.StreamOptions", c);
  bool include = false;
  const GoCtx s = c.in("StreamOptions");
  for_each_field(x, {"include_usage"},
                 [&](std::string_view f, const Json& y) { include = go_bool(y, s.at(f)); });
  return include;
}

Json decode_response_format(const Json& x, const GoCtx& c) {
  if (!x.is_object()) throw_type_error(x, "openai.ResponseFormat", c);
  const GoCtx r = c.in("ResponseFormat");
  std::string type;
  Json schema;
  for_each_field(x, {"type", "json_schema"}, [&](std::string_view f, const Json& y) {
    if (f == "type") {
      type = go_string(y, r.at(f));
      return;
    }
    if (!y.is_object()) throw_type_error(y, "openai.JsonSchema", r.at(f));
    for_each_field(y, {"schema"}, [&](std::string_view, const Json& z) { schema = z; });
  });
  type = to_lower(trim(type));
  if (type == "json_object") return Json("json");
  if (type == "json_schema") return schema;
  return Json();
}

std::vector<std::string> chat_stops(const Json& stop) {
  if (stop.is_string()) return {stop.get<std::string>()};
  std::vector<std::string> out;
  if (stop.is_array()) {
    for (const auto& s : stop) {
      if (s.is_string()) out.push_back(s.get<std::string>());
    }
  }
  return out;
}

}  // namespace

std::string new_tool_call_id() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "call_";
  for (int i = 0; i < 8; ++i) id += kChars[random_below(36)];
  return id;
}

OpenAICompletion decode_openai_chat(std::string_view body) {
  const Json obj = parse_request_object(body, "ChatCompletionRequest");
  const GoCtx c{"ChatCompletionRequest", ""};
  OpenAICompletion out;
  CompletionRequest& r = out.request;
  r.kind = CompletionRequest::Kind::Chat;
  std::vector<WireMessage> wire;
  std::optional<int64_t> max_tokens, max_completion_tokens, seed;
  std::optional<double> temperature, top_p, frequency_penalty, presence_penalty;
  Json stop;
  std::optional<std::string> reasoning_effort;
  std::optional<std::string> reasoning;  // set when a `reasoning` object is present
  for_each_field(
      obj,
      {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
       "seed", "stop", "temperature", "frequency_penalty", "presence_penalty", "top_p",
       "response_format", "tools", "reasoning", "reasoning_effort", "logprobs", "top_logprobs",
       "_debug_render_only"},
      [&](std::string_view f, const Json& x) {
        const GoCtx fc = c.at(f);
        if (f == "model") r.model = go_string(x, fc);
        else if (f == "messages") {
          wire.clear();
          for (const auto& m : go_array(x, fc, "[]openai.Message")) {
            wire.push_back(m.is_null() ? WireMessage{} : decode_wire_message(m, fc));
          }
        } else if (f == "stream") out.stream = go_bool(x, fc);
        else if (f == "stream_options") out.include_usage = decode_stream_options(x, fc);
        else if (f == "max_tokens") max_tokens = go_int(x, fc);
        else if (f == "max_completion_tokens") max_completion_tokens = go_int(x, fc);
        else if (f == "seed") seed = go_int(x, fc);
        else if (f == "stop") stop = x;
        else if (f == "temperature") temperature = go_float(x, fc);
        else if (f == "frequency_penalty") frequency_penalty = go_float(x, fc);
        else if (f == "presence_penalty") presence_penalty = go_float(x, fc);
        else if (f == "top_p") top_p = go_float(x, fc);
        else if (f == "response_format") r.format = decode_response_format(x, fc);
        else if (f == "tools") {
          for (const auto& e : go_array(x, fc, "[]api.Tool")) {
            if (!e.is_null() && !e.is_object()) throw_type_error(e, "api.Tool", fc);
          }
          r.tools = x.empty() ? Json() : x;
        } else if (f == "reasoning") {
          if (!x.is_object()) throw_type_error(x, "openai.Reasoning", fc);
          std::string effort;
          for_each_field(x, {"effort"}, [&](std::string_view g, const Json& y) {
            effort = go_string(y, fc.in("Reasoning").at(g));
          });
          reasoning = effort;
        } else if (f == "reasoning_effort") reasoning_effort = go_string(x, fc);
        else if (f == "logprobs") r.logprobs = go_bool(x, fc);
        else if (f == "top_logprobs") {
          r.top_logprobs = static_cast<int>(std::clamp<int64_t>(go_int(x, fc), -1, 1000));
        } else r.debug_render_only = go_bool(x, fc);
      });
  if (wire.empty()) throw ApiError(400, "[] is too short - 'messages'");
  r.messages = to_messages(wire);

  Options& o = r.options;
  if (!stop.is_null()) o.stop = chat_stops(stop);
  if (max_completion_tokens) o.num_predict = max_completion_tokens;
  else if (max_tokens) o.num_predict = max_tokens;
  o.temperature = temperature.value_or(1.0);
  o.top_p = top_p.value_or(1.0);
  o.seed = seed;
  o.frequency_penalty = frequency_penalty;
  o.presence_penalty = presence_penalty;
  const std::string effort = reasoning ? *reasoning : reasoning_effort.value_or("");
  if (!effort.empty()) r.think = think_from_effort(effort);

  validate_completion(r);
  r.format = decode_format(r.format);
  out.id = "chatcmpl-" + std::to_string(random_below(999));
  out.created = unix_seconds(Clock::now());
  return out;
}

OpenAICompletion decode_openai_completion(std::string_view body) {
  const Json obj = parse_request_object(body, "CompletionRequest");
  const GoCtx c{"CompletionRequest", ""};
  OpenAICompletion out;
  CompletionRequest& r = out.request;
  r.kind = CompletionRequest::Kind::Generate;
  std::optional<int64_t> max_tokens, max_completion_tokens, seed, logprobs;
  std::optional<double> temperature;
  double top_p = 0, frequency_penalty = 0, presence_penalty = 0;
  Json stop;
  for_each_field(
      obj,
      {"model", "prompt", "frequency_penalty", "max_tokens", "max_completion_tokens",
       "presence_penalty", "seed", "stop", "stream", "stream_options", "temperature", "top_p",
       "suffix", "logprobs", "_debug_render_only"},
      [&](std::string_view f, const Json& x) {
        const GoCtx fc = c.at(f);
        if (f == "model") r.model = go_string(x, fc);
        else if (f == "prompt") r.prompt = go_string(x, fc);
        else if (f == "frequency_penalty") frequency_penalty = go_float(x, fc, "float32");
        else if (f == "presence_penalty") presence_penalty = go_float(x, fc, "float32");
        else if (f == "max_tokens") max_tokens = go_int(x, fc);
        else if (f == "max_completion_tokens") max_completion_tokens = go_int(x, fc);
        else if (f == "seed") seed = go_int(x, fc);
        else if (f == "stop") stop = x;
        else if (f == "stream") out.stream = go_bool(x, fc);
        else if (f == "stream_options") out.include_usage = decode_stream_options(x, fc);
        else if (f == "temperature") temperature = go_float(x, fc, "float32");
        else if (f == "top_p") top_p = go_float(x, fc, "float32");
        else if (f == "suffix") {
          std::string s = go_string(x, fc);
          r.suffix = s.empty() ? std::nullopt : std::optional<std::string>(std::move(s));
        } else if (f == "logprobs") logprobs = go_int(x, fc);
        else r.debug_render_only = go_bool(x, fc);
      });
  Options& o = r.options;
  if (stop.is_string()) {
    o.stop = std::vector<std::string>{stop.get<std::string>()};
  } else if (stop.is_array()) {
    std::vector<std::string> stops;
    for (const auto& s : stop) {
      if (!s.is_string()) {
        throw ApiError(400, "invalid type for 'stop' field: " + go_dynamic_type(s));
      }
      stops.push_back(s.get<std::string>());
    }
    o.stop = std::move(stops);
  }
  if (max_completion_tokens) o.num_predict = max_completion_tokens;
  else if (max_tokens) o.num_predict = max_tokens;
  o.temperature = temperature.value_or(1.0);
  o.seed = seed;
  o.frequency_penalty = frequency_penalty;
  o.presence_penalty = presence_penalty;
  o.top_p = top_p != 0.0 ? top_p : 1.0;
  if (logprobs && *logprobs > 0) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int>(std::min<int64_t>(*logprobs, 1000));
  }
  validate_completion(r);
  out.id = "cmpl-" + std::to_string(random_below(999));
  out.created = unix_seconds(Clock::now());
  return out;
}

OpenAIEmbed decode_openai_embeddings(std::string_view body) {
  const Json obj = parse_request_object(body, "EmbedRequest");
  const GoCtx c{"EmbedRequest", ""};
  OpenAIEmbed out;
  for_each_field(obj, {"input", "model", "dimensions", "encoding_format"},
                 [&](std::string_view f, const Json& x) {
                   if (f == "input") out.input = x;
                   else if (f == "model") out.model = go_string(x, c.at(f));
                   else if (f == "dimensions") out.dimensions = go_int(x, c.at(f));
                   else out.encoding_format = go_string(x, c.at(f));
                 });
  if (!out.encoding_format.empty()) {
    const std::string e = to_lower(out.encoding_format);
    if (e != "float" && e != "base64") {
      throw ApiError(400, "Invalid value for 'encoding_format' = " + out.encoding_format +
                              ". Supported values: ['float', 'base64'].");
    }
  }
  if (out.input.is_string() && out.input.get_ref<const std::string&>().empty()) {
    out.input = Json::array({""});
  }
  if (out.input.is_null() || (out.input.is_array() && out.input.empty())) {
    throw ApiError(400, "invalid input");
  }
  if (out.model.empty()) throw ApiError(404, "model '' not found");
  bool ok = out.input.is_string() || out.input.is_array();
  if (out.input.is_array()) {
    for (const auto& e : out.input) ok = ok && e.is_string();
  }
  if (!ok) throw ApiError(400, "invalid input type");
  return out;
}

}  // namespace ollmlx::api
