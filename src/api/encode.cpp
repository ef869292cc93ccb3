// Native response encoding: the shapes of Ollama's ListResponse, ShowResponse, ProcessResponse
// and the shared completion pieces (see encode.h).
#include "api/encode.h"

#include <algorithm>

#include "api/go_json.h"
#include "api/time_format.h"

namespace ollmlx::api {
namespace {

Json string_list_or_null(const std::vector<std::string>& v) {
  if (v.empty()) return Json();
  Json a = Json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

}  // namespace

std::string encode_error(const std::string& message) {
  return go_json(Json{{"error", message}});
}

std::string encode_version(const std::string& version) {
  return go_json(Json{{"version", version}});
}

std::string encode_progress(const Progress& p) {
  Json o = Json::object();
  o["status"] = p.status;
  if (!p.digest.empty()) o["digest"] = p.digest;
  if (p.total != 0) o["total"] = p.total;
  if (p.completed != 0) o["completed"] = p.completed;
  return go_json(o);
}

Json details_json(const ModelDetails& d) {
  Json o = Json::object();
  o["parent_model"] = d.parent_model;
  o["format"] = d.format;
  o["family"] = d.family;
  o["families"] = string_list_or_null(d.families);
  o["parameter_size"] = d.parameter_size;
  o["quantization_level"] = d.quantization_level;
  return o;
}

std::string encode_tags(std::vector<ModelEntry> models) {
  std::stable_sort(models.begin(), models.end(), [](const ModelEntry& a, const ModelEntry& b) {
    return a.modified_at > b.modified_at;
  });
  Json list = Json::array();
  for (const auto& m : models) {
    Json o = Json::object();
    o["name"] = m.name;
    o["model"] = m.name;
    o["modified_at"] = format_time_local(m.modified_at);
    o["size"] = m.size;
    o["digest"] = m.digest;
    o["details"] = details_json(m.details);
    if (!m.capabilities.empty()) o["capabilities"] = string_list_or_null(m.capabilities);
    list.push_back(std::move(o));
  }
  return go_json(Json{{"models", list}});
}

std::string encode_show(const ModelShow& s, const std::string& system_override) {
  Json o = Json::object();
  const std::string& system = system_override.empty() ? s.system : system_override;
  if (!s.license.empty()) o["license"] = s.license;
  if (!s.modelfile.empty()) o["modelfile"] = s.modelfile;
  if (!s.parameters.empty()) o["parameters"] = s.parameters;
  if (!s.template_text.empty()) o["template"] = s.template_text;
  if (!system.empty()) o["system"] = system;
  o["details"] = details_json(s.details);
  if (s.messages.is_array() && !s.messages.empty()) o["messages"] = s.messages;
  // Go writes a map with sorted keys; never null (integrations crash on a missing model_info).
  o["model_info"] = s.model_info.is_object() ? sorted_keys(s.model_info) : Json::object();
  if (!s.capabilities.empty()) o["capabilities"] = string_list_or_null(s.capabilities);
  o["modified_at"] = format_time_local(s.modified_at);
  return go_json(o);
}

std::string encode_ps(std::vector<RunningModel> models) {
  std::stable_sort(models.begin(), models.end(), [](const RunningModel& a, const RunningModel& b) {
    return unix_seconds(a.expires_at) > unix_seconds(b.expires_at);
  });
  Json list = Json::array();
  for (const auto& m : models) {
    Json o = Json::object();
    o["name"] = m.name;
    o["model"] = m.name;
    o["size"] = m.size;
    o["digest"] = m.digest;
    o["details"] = details_json(m.details);
    o["expires_at"] = format_time_local(m.expires_at);
    o["size_vram"] = m.size_vram;
    o["context_length"] = m.context_length;
    if (!m.backend.empty()) o["backend"] = m.backend;  // ollmlx extension, ignored by clients
    list.push_back(std::move(o));
  }
  return go_json(Json{{"models", list}});
}

bool has_tool_calls(const Json& calls) { return calls.is_array() && !calls.empty(); }

Json native_tool_calls(const Json& calls, int64_t& next_index) {
  Json out = Json::array();
  if (!calls.is_array()) return out;
  for (const auto& call : calls) {
    const Json fn = call.is_object() && call.contains("function") && call["function"].is_object()
                        ? call["function"]
                        : Json::object();
    Json f = Json::object();
    int64_t index = next_index;
    if (fn.contains("index") && fn["index"].is_number_integer()) index = fn["index"].get<int64_t>();
    next_index = index + 1;
    f["index"] = index;
    f["name"] = fn.contains("name") && fn["name"].is_string() ? fn["name"] : Json("");
    f["arguments"] =
        fn.contains("arguments") && fn["arguments"].is_object() ? fn["arguments"] : Json::object();
    Json c = Json::object();
    if (call.is_object() && call.contains("id") && call["id"].is_string() &&
        !call["id"].get_ref<const std::string&>().empty()) {
      c["id"] = call["id"];
    }
    c["function"] = std::move(f);
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

Json bytes_json(const std::vector<uint8_t>& bytes) {
  Json a = Json::array();
  for (const uint8_t b : bytes) a.push_back(static_cast<int>(b));
  return a;
}

}  // namespace

Json logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  Json out = Json::array();
  for (const auto& lp : logprobs) {
    Json o = Json::object();
    o["token"] = lp.token;
    o["logprob"] = lp.logprob;
    if (!lp.bytes.empty()) o["bytes"] = bytes_json(lp.bytes);
    if (!lp.top.empty()) {
      Json top = Json::array();
      for (const auto& t : lp.top) {
        Json to = Json::object();
        to["token"] = t.token;
        to["logprob"] = t.logprob;
        if (!t.bytes.empty()) to["bytes"] = bytes_json(t.bytes);
        top.push_back(std::move(to));
      }
      o["top_logprobs"] = std::move(top);
    }
    out.push_back(std::move(o));
  }
  return out;
}

void add_metrics(Json& o, const CompletionResult& r) {
  if (r.total_duration.count() != 0) o["total_duration"] = r.total_duration.count();
  if (r.load_duration.count() != 0) o["load_duration"] = r.load_duration.count();
  if (r.prompt_eval_count != 0) o["prompt_eval_count"] = r.prompt_eval_count;
  if (r.prompt_eval_duration.count() != 0) {
    o["prompt_eval_duration"] = r.prompt_eval_duration.count();
  }
  if (r.eval_count != 0) o["eval_count"] = r.eval_count;
  if (r.eval_duration.count() != 0) o["eval_duration"] = r.eval_duration.count();
}

}  // namespace ollmlx::api
