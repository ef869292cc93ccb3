// Encoding of Ollama's native responses other than completions (version, tags, show, ps,
// errors) and the JSON pieces completions share (tool calls, logprobs, metrics, details), with
// Go's field order and omitempty rules.
#pragma once

#include <string>
#include <vector>

#include "api/service.h"

namespace ollmlx::api {

inline constexpr const char* kJsonUtf8 = "application/json; charset=utf-8";

std::string encode_error(const std::string& message);  // {"error":"..."}
std::string encode_version(const std::string& version);
// One /api/pull or /api/create line: {"status","digest"?,"total"?,"completed"?}.
std::string encode_progress(const Progress& p);
// {"models":[...]} sorted by modified_at, newest first; never null.
std::string encode_tags(std::vector<ModelEntry> models);
// `system_override` (non-empty) replaces the shown system prompt, as ShowRequest.system does.
std::string encode_show(const ModelShow& show, const std::string& system_override = "");
// {"models":[...]} sorted by expires_at, latest first.
std::string encode_ps(std::vector<RunningModel> models);

Json details_json(const ModelDetails& d);
// Tool calls in Ollama's shape: {"id"?, "function": {"index", "name", "arguments": {...}}};
// `next_index` numbers calls that carry no index.
Json native_tool_calls(const Json& calls, int64_t& next_index);
Json logprobs_json(const std::vector<TokenLogprob>& logprobs);
// Adds the non-zero metrics (durations in nanoseconds) in Ollama's order.
void add_metrics(Json& obj, const CompletionResult& r);
bool has_tool_calls(const Json& calls);

}  // namespace ollmlx::api
