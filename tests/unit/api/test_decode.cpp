// Native request decoding: GenerateRequest/ChatRequest fields, Go's type-error messages, the
// handlers' early checks (model presence, think, top_logprobs, format, raw), other requests.
#include <gtest/gtest.h>

#include "api/decode.h"
#include "api_test_util.h"

namespace ollmlx::api {
namespace {

TEST(DecodeGenerate, Fields) {
  const auto call = decode_generate(R"({
    "model": "llama3.2", "prompt": "Why?", "suffix": "end", "system": "be brief",
    "template": "{{ .Prompt }}", "context": [1, 2, 3], "stream": false, "raw": false,
    "format": "json", "keep_alive": "10m", "images": ["aGVsbG8="],
    "options": {"temperature": 0.2, "num_ctx": 8192}, "think": "high", "truncate": false,
    "shift": false, "logprobs": true, "top_logprobs": 5, "_debug_render_only": true,
    "unknown_field": {"ignored": true}})");
  const CompletionRequest& r = call.request;
  EXPECT_FALSE(call.stream);
  EXPECT_EQ(r.kind, CompletionRequest::Kind::Generate);
  EXPECT_EQ(r.model, "llama3.2");
  EXPECT_EQ(r.prompt, "Why?");
  EXPECT_EQ(r.suffix, "end");
  EXPECT_EQ(r.system, "be brief");
  EXPECT_EQ(r.template_override, "{{ .Prompt }}");
  EXPECT_EQ(r.context, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(r.format, Json("json"));
  ASSERT_TRUE(r.keep_alive.has_value());
  EXPECT_EQ(r.keep_alive->duration, std::chrono::minutes(10));
  EXPECT_EQ(r.images, (std::vector<std::string>{"aGVsbG8="}));
  EXPECT_EQ(r.options.temperature, 0.2);
  EXPECT_EQ(r.options.num_ctx, 8192);
  EXPECT_EQ(r.think, Json("high"));
  EXPECT_FALSE(r.truncate);
  EXPECT_FALSE(r.shift);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 5);
  EXPECT_TRUE(r.debug_render_only);
}

TEST(DecodeGenerate, DefaultsAndNulls) {
  const auto call = decode_generate(R"({"model": "m", "stream": null, "system": "",
                                        "keep_alive": null, "format": "", "think": null})");
  EXPECT_TRUE(call.stream);  // absent or null means streaming
  EXPECT_FALSE(call.request.system.has_value());
  EXPECT_FALSE(call.request.keep_alive.has_value());
  EXPECT_TRUE(call.request.format.is_null());
  EXPECT_FALSE(call.request.think.has_value());
  EXPECT_TRUE(call.request.truncate);
  EXPECT_TRUE(call.request.shift);
  EXPECT_EQ(call.request.prompt, "");
}

TEST(DecodeGenerate, KeysMatchCaseInsensitivelyLikeGo) {
  const auto call = decode_generate(R"({"Model": "m", "PROMPT": "hi"})");
  EXPECT_EQ(call.request.model, "m");
  EXPECT_EQ(call.request.prompt, "hi");
}

TEST(DecodeGenerate, BodyErrors) {
  EXPECT_API_ERROR(decode_generate(""), 400, "missing request body");
  EXPECT_API_ERROR(decode_generate("{\"model\":"), 400, "unexpected EOF");
  EXPECT_API_ERROR(decode_generate("[]"), 400,
                   "json: cannot unmarshal array into Go value of type api.GenerateRequest");
  // `null` is an empty request, which then lacks a model (generate's 404 quirk).
  EXPECT_API_ERROR(decode_generate("null"), 404, "model '' not found");
  EXPECT_API_ERROR(decode_generate("{}"), 404, "model '' not found");
}

TEST(DecodeGenerate, TypeErrorsNameTheGoField) {
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "prompt": 1})"), 400,
                   "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of "
                   "type string");
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "stream": "yes"})"), 400,
                   "json: cannot unmarshal string into Go struct field GenerateRequest.stream of "
                   "type bool");
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "top_logprobs": 1.5})"), 400,
                   "json: cannot unmarshal number 1.5 into Go struct field "
                   "GenerateRequest.top_logprobs of type int");
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "context": [1, "a"]})"), 400,
                   "json: cannot unmarshal string into Go struct field GenerateRequest.context of "
                   "type int");
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "images": "abc"})"), 400,
                   "json: cannot unmarshal string into Go struct field GenerateRequest.images of "
                   "type []api.ImageData");
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "images": [1]})"), 400,
                   "json: cannot unmarshal number into Go struct field GenerateRequest.images of "
                   "type api.ImageData");
  EXPECT_API_ERROR(decode_generate(R"({"model": 7})"), 400,
                   "json: cannot unmarshal number into Go struct field GenerateRequest.model of "
                   "type string");
  EXPECT_EQ(decode_generate(R"({"model": "m", "top_logprobs": -0})").request.top_logprobs, 0);
  // The first error in document order is the one reported.
  EXPECT_API_ERROR(decode_generate(R"({"raw": 1, "prompt": 2})"), 400,
                   "json: cannot unmarshal number into Go struct field GenerateRequest.raw of "
                   "type bool");
}

TEST(DecodeGenerate, ImagesMustBeStandardBase64) {
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "images": ["not base64!"]})"), 400,
                   "illegal base64 data at input byte 3");
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "images": ["data:image/png;base64,AAAA"]})"),
                   400, "illegal base64 data at input byte 4");
  EXPECT_API_ERROR(decode_generate(R"({"model": "m", "images": ["aGVsbG8"]})"), 400,
                   "illegal base64 data at input byte 4");
  EXPECT_NO_THROW(decode_generate(R"({"model": "m", "images": ["aGVs\nbG8=", ""]})"));
}

TEST(DecodeGenerate, ThinkValues) {
  EXPECT_EQ(decode_generate(R"({"model":"m","think":false})").request.think, Json(false));
  EXPECT_EQ(decode_generate(R"({"model":"m","think":"max"})").request.think, Json("max"));
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","think":"extreme"})"), 400,
                   "invalid think value: \"extreme\" (must be \"high\", \"medium\", \"low\", "
                   "\"max\", true, or false)");
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","think":1})"), 400,
                   "think must be a boolean or string (\"high\", \"medium\", \"low\", \"max\", "
                   "true, or false)");
}

TEST(DecodeGenerate, KeepAliveErrors) {
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","keep_alive":"300"})"), 400,
                   "time: missing unit in duration \"300\"");
  EXPECT_TRUE(decode_generate(R"({"model":"m","keep_alive":-1})").request.keep_alive->forever);
}

TEST(DecodeGenerate, HandlerChecks) {
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","top_logprobs":21})"), 400,
                   "top_logprobs must be between 0 and 20");
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","top_logprobs":-1})"), 400,
                   "top_logprobs must be between 0 and 20");
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","raw":true,"system":"s"})"), 400,
                   "raw mode does not support template, system, or context");
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","raw":true,"context":[1]})"), 400,
                   "raw mode does not support template, system, or context");
  EXPECT_NO_THROW(decode_generate(R"({"model":"m","raw":true,"system":""})"));
  // Options type errors come after the model checks, with Ollama's status 500.
  EXPECT_API_ERROR(decode_generate(R"({"options":{"num_ctx":"x"}})"), 404, "model '' not found");
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","options":{"num_ctx":"x"}})"), 500,
                   "option \"num_ctx\" must be of type integer");
}

TEST(DecodeGenerate, Format) {
  const auto schema = decode_generate(R"({"model":"m","format":{"type":"object"}})");
  EXPECT_EQ(schema.request.format, Json({{"type", "object"}}));
  EXPECT_TRUE(decode_generate(R"({"model":"m","format":null})").request.format.is_null());
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","format":"xml"})"), 400,
                   "invalid format: \"\\\"xml\\\"\"; expected \"json\" or a valid JSON Schema "
                   "object");
  EXPECT_API_ERROR(decode_generate(R"({"model":"m","format":[1]})"), 400,
                   "invalid format: \"[1]\"; expected \"json\" or a valid JSON Schema object");
}

TEST(DecodeChat, MessagesAndTools) {
  const auto call = decode_chat(R"({
    "model": "qwen3", "messages": [
      {"role": "System", "content": "sys"},
      {"role": "user", "content": "hi", "images": ["aGk="]},
      {"role": "assistant", "content": "", "thinking": "hmm",
       "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": {"b": 1, "a": 2}}},
                      {"function": {"index": 3, "name": "g"}}]},
      {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "call_1"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]})");
  const CompletionRequest& r = call.request;
  EXPECT_EQ(r.kind, CompletionRequest::Kind::Chat);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].role, "system");  // lower-cased as Ollama does
  EXPECT_EQ(r.messages[1].images, (std::vector<std::string>{"aGk="}));
  EXPECT_EQ(r.messages[2].thinking, "hmm");
  EXPECT_EQ(r.messages[2].tool_calls.dump(),
            R"([{"id":"call_1","function":{"index":0,"name":"f","arguments":{"b":1,"a":2}}},)"
            R"({"function":{"index":3,"name":"g","arguments":{}}}])");
  EXPECT_EQ(r.messages[3].tool_name, "f");
  EXPECT_EQ(r.messages[3].tool_call_id, "call_1");
  ASSERT_TRUE(r.tools.is_array());
  EXPECT_EQ(r.tools[0]["function"]["name"], "f");
  EXPECT_TRUE(r.messages[0].tool_calls.is_null());
}

TEST(DecodeChat, Errors) {
  EXPECT_API_ERROR(decode_chat("null"), 400, "model is required");
  EXPECT_API_ERROR(decode_chat(R"({"messages": []})"), 400, "model is required");
  EXPECT_API_ERROR(decode_chat(R"({"model":"m","messages":{}})"), 400,
                   "json: cannot unmarshal object into Go struct field ChatRequest.messages of "
                   "type []api.Message");
  EXPECT_API_ERROR(decode_chat(R"({"model":"m","messages":["hi"]})"), 400,
                   "json: cannot unmarshal string into Go struct field ChatRequest.messages of "
                   "type api.Message");
  EXPECT_API_ERROR(
      decode_chat(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})"),
      400,
      "json: cannot unmarshal array into Go struct field Message.messages.content of type string");
  EXPECT_API_ERROR(
      decode_chat(R"({"model":"m","messages":[{"tool_calls":[{"function":{"arguments":"{}"}}]}]})"),
      400,
      "json: cannot unmarshal string into Go struct field "
      "ToolCallFunction.messages.tool_calls.function.arguments of type "
      "api.ToolCallFunctionArguments");
  EXPECT_API_ERROR(decode_chat(R"({"model":"m","tools":{}})"), 400,
                   "json: cannot unmarshal object into Go struct field ChatRequest.tools of type "
                   "api.Tools");
  EXPECT_API_ERROR(decode_chat(R"({"model":"m","top_logprobs":99})"), 400,
                   "top_logprobs must be between 0 and 20");
}

TEST(DecodeChat, EmptyToolsAreNoTools) {
  EXPECT_TRUE(decode_chat(R"({"model":"m","tools":[]})").request.tools.is_null());
  EXPECT_TRUE(decode_chat(R"({"model":"m"})").request.messages.empty());
}

TEST(DecodeOther, Show) {
  const auto s = decode_show(R"({"name": "llama3.2", "verbose": true, "system": "x"})");
  EXPECT_EQ(s.model, "llama3.2");
  EXPECT_TRUE(s.verbose);
  EXPECT_EQ(s.system, "x");
  EXPECT_EQ(decode_show(R"({"model": "a", "name": "b"})").model, "a");
  EXPECT_API_ERROR(decode_show("{}"), 400, "model is required");
  EXPECT_API_ERROR(decode_show("null"), 400, "model is required");
}

TEST(DecodeOther, CopyDeletePullPushCreate) {
  const auto c = decode_copy(R"({"source": "a", "destination": "b"})");
  EXPECT_EQ(c.source, "a");
  EXPECT_EQ(c.destination, "b");
  EXPECT_API_ERROR(decode_copy(R"({"destination": "b"})"), 400, "source \"\" is invalid");
  EXPECT_API_ERROR(decode_copy(R"({"source": "a"})"), 400, "destination \"\" is invalid");
  EXPECT_EQ(decode_delete(R"({"name": "x"})").model, "x");
  EXPECT_API_ERROR(decode_delete("{}"), 400, "name \"\" is invalid");
  const auto p = decode_pull(R"({"model": "m", "stream": false, "insecure": true})");
  EXPECT_EQ(p.model, "m");
  EXPECT_FALSE(p.stream);
  EXPECT_API_ERROR(decode_pull("{}"), 400, "invalid model name");
  EXPECT_API_ERROR(decode_push("{}"), 400, "model is required");
  EXPECT_API_ERROR(decode_create(R"({"from": "x"})"), 400, "invalid model name");
  EXPECT_TRUE(decode_create(R"({"model": "x"})").stream);
}

TEST(DecodeOther, Embed) {
  const auto e = decode_embed(R"({"model": "m", "input": ["a", "b"], "dimensions": 8,
                                  "truncate": false, "keep_alive": 0})");
  EXPECT_EQ(e.input.size(), 2u);
  EXPECT_EQ(e.dimensions, 8);
  EXPECT_FALSE(e.truncate);
  EXPECT_API_ERROR(decode_embed(R"({"input": "a"})"), 404, "model '' not found");
  EXPECT_API_ERROR(decode_embed(R"({"model": "m", "input": 3})"), 400, "invalid input type");
  EXPECT_API_ERROR(decode_embed(R"({"model": "m", "input": ["a", 3]})"), 400,
                   "invalid input type");
  EXPECT_API_ERROR(decode_embeddings(R"({"prompt": "a"})"), 400, "model is required");
  EXPECT_EQ(decode_embeddings(R"({"model": "m", "prompt": "a"})").input, Json("a"));
}

}  // namespace
}  // namespace ollmlx::api
