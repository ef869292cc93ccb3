// /v1 request mapping (§1b): chat messages and content parts, images, tool calls, option
// defaults and aliases, response_format, reasoning effort, completions and embeddings.
#include <gtest/gtest.h>

#include "api/openai.h"
#include "api_test_util.h"

namespace ollmlx::api {
namespace {

TEST(OpenAIChat, BasicMapping) {
  const auto call = decode_openai_chat(R"({
    "model": "llama3.2", "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 100, "seed": 7, "stop": ["a", 1, "b"], "frequency_penalty": 0.5,
    "stream": true, "stream_options": {"include_usage": true}, "logprobs": true,
    "top_logprobs": 3, "user": "ignored", "n": 1, "tool_choice": "auto"})");
  const CompletionRequest& r = call.request;
  EXPECT_TRUE(call.stream);
  EXPECT_TRUE(call.include_usage);
  EXPECT_EQ(call.id.rfind("chatcmpl-", 0), 0u);
  EXPECT_GT(call.created, 1600000000);
  EXPECT_EQ(r.kind, CompletionRequest::Kind::Chat);
  EXPECT_EQ(r.model, "llama3.2");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content, "hi");
  EXPECT_EQ(r.options.num_predict, 100);
  EXPECT_EQ(r.options.seed, 7);
  EXPECT_EQ(r.options.stop, (std::vector<std::string>{"a", "b"}));  // non-strings dropped
  EXPECT_EQ(r.options.frequency_penalty, 0.5);
  EXPECT_FALSE(r.options.presence_penalty.has_value());
  EXPECT_EQ(r.options.temperature, 1.0);  // OpenAI defaults, not the model's
  EXPECT_EQ(r.options.top_p, 1.0);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_FALSE(r.think.has_value());
}

TEST(OpenAIChat, DefaultsAndAliases) {
  const auto call = decode_openai_chat(R"({"model": "m", "messages": [{"role": "user",
      "content": "x"}], "max_tokens": 5, "max_completion_tokens": 9, "temperature": 0.1,
      "top_p": 0.5, "stop": "END"})");
  EXPECT_FALSE(call.stream);
  EXPECT_FALSE(call.include_usage);
  EXPECT_EQ(call.request.options.num_predict, 9);
  EXPECT_EQ(call.request.options.temperature, 0.1);
  EXPECT_EQ(call.request.options.top_p, 0.5);
  EXPECT_EQ(call.request.options.stop, (std::vector<std::string>{"END"}));
  const auto only = decode_openai_chat(R"({"model": "m", "messages": [{"role": "user",
      "content": "x"}], "max_completion_tokens": 3})");
  EXPECT_EQ(only.request.options.num_predict, 3);
}

TEST(OpenAIChat, ContentPartsImagesAndAudio) {
  const auto call = decode_openai_chat(R"({"model": "m", "messages": [{"role": "USER",
      "content": [{"type": "text", "text": "look"},
                  {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                  {"type": "image_url", "image_url": "data:;base64,aGk="},
                  {"type": "input_audio", "input_audio": {"data": "aGk=", "format": "wav"}}]}]})");
  const auto& m = call.request.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].role, "user");
  EXPECT_EQ(m[0].content, "look");
  EXPECT_EQ(m[1].images, (std::vector<std::string>{"aGk="}));
  EXPECT_EQ(m[2].images, (std::vector<std::string>{"aGk="}));
  EXPECT_EQ(m[3].images, (std::vector<std::string>{"aGk="}));
}

TEST(OpenAIChat, ContentErrors) {
  const auto chat = [](const std::string& msg) {
    return decode_openai_chat(R"({"model": "m", "messages": [)" + msg + "]}");
  };
  EXPECT_API_ERROR(chat(R"({"role":"user","content":[{"type":"image_url",
      "image_url":{"url":"https://x/y.png"}}]})"),
                   400,
                   "image URLs are not currently supported, please use base64 encoded data "
                   "instead");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":[{"type":"image_url",
      "image_url":{"url":"data:image/gif;base64,aGk="}}]})"),
                   400, "invalid image input");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":[{"type":"image_url",
      "image_url":{"url":"data:image/png;base64,%%%"}}]})"),
                   400, "invalid image input");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":[{"type":"video"}]})"), 400,
                   "invalid message format");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":[{"type":"text","text":1}]})"), 400,
                   "invalid message format");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":["x"]})"), 400, "invalid message format");
  EXPECT_API_ERROR(chat(R"({"role":"user"})"), 400, "invalid message content type: <nil>");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":1.5})"), 400,
                   "invalid message content type: float64");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":{}})"), 400,
                   "invalid message content type: map[string]interface {}");
  EXPECT_API_ERROR(decode_openai_chat(R"({"model": "m", "messages": []})"), 400,
                   "[] is too short - 'messages'");
  EXPECT_API_ERROR(decode_openai_chat(R"({"model": "m"})"), 400, "[] is too short - 'messages'");
  EXPECT_API_ERROR(decode_openai_chat(R"({"messages": [{"role":"user","content":"x"}]})"), 400,
                   "model is required");
  EXPECT_API_ERROR(chat(R"({"role":"user","content":"x","tool_calls":[{"function":
      {"name":1}}]})"),
                   400,
                   "json: cannot unmarshal number into Go struct field .messages.tool_calls."
                   "function.name of type string");
}

TEST(OpenAIChat, ToolCallsAndToolMessages) {
  const auto call = decode_openai_chat(R"({"model": "m", "messages": [
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": null, "reasoning": "think",
       "tool_calls": [{"id": "call_x", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"}}]},
      {"role": "tool", "tool_call_id": "call_x", "content": "sunny"},
      {"role": "tool", "name": "explicit", "content": "ok"}],
    "tools": [{"type": "function", "function": {"name": "get_weather"}}]})");
  const auto& m = call.request.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1].content, "");
  EXPECT_EQ(m[1].thinking, "think");
  EXPECT_EQ(m[1].tool_calls.dump(),
            R"([{"id":"call_x","function":{"index":0,"name":"get_weather",)"
            R"("arguments":{"city":"Tokyo"}}}])");
  EXPECT_EQ(m[2].tool_name, "get_weather");  // looked up from the call id
  EXPECT_EQ(m[2].tool_call_id, "call_x");
  EXPECT_EQ(m[3].tool_name, "explicit");
  EXPECT_EQ(call.request.tools.size(), 1u);
  EXPECT_API_ERROR(decode_openai_chat(R"({"model": "m", "messages": [{"role": "assistant",
      "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}]})"),
                   400, "invalid tool call arguments");
}

TEST(OpenAIChat, ResponseFormat) {
  const auto fmt = [](const std::string& rf) {
    return decode_openai_chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],
        "response_format":)" + rf + "}")
        .request.format;
  };
  EXPECT_EQ(fmt(R"({"type":"json_object"})"), Json("json"));
  EXPECT_EQ(fmt(R"({"type":" JSON_SCHEMA ","json_schema":{"name":"n",)"
                R"("schema":{"type":"object"}}})"),
            Json({{"type", "object"}}));
  EXPECT_TRUE(fmt(R"({"type":"json_schema"})").is_null());
  EXPECT_TRUE(fmt(R"({"type":"text"})").is_null());
}

TEST(OpenAIChat, ReasoningEffort) {
  const auto think = [](const std::string& extra) {
    return decode_openai_chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],)" +
                              extra + "}")
        .request.think;
  };
  EXPECT_EQ(think(R"("reasoning_effort":"none")"), Json(false));
  EXPECT_EQ(think(R"("reasoning_effort":"minimal")"), Json("low"));
  EXPECT_EQ(think(R"("reasoning_effort":"medium")"), Json("medium"));
  EXPECT_EQ(think(R"("reasoning_effort":"max")"), Json("max"));
  EXPECT_EQ(think(R"("reasoning_effort":"xhigh")"), Json("max"));
  EXPECT_EQ(think(R"("reasoning":{"effort":"high"},"reasoning_effort":"low")"), Json("high"));
  EXPECT_FALSE(think(R"("reasoning":{},"reasoning_effort":"low")").has_value());
  EXPECT_API_ERROR(think(R"("reasoning_effort":"huge")"), 400,
                   "invalid reasoning value: 'huge' (must be \"none\", \"minimal\", \"low\", "
                   "\"medium\", \"high\", \"xhigh\", or \"max\")");
}

TEST(OpenAICompletion, Mapping) {
  const auto call = decode_openai_completion(R"({"model": "m", "prompt": "Once", "suffix": "end",
      "max_tokens": 16, "stop": "\n", "top_p": 0, "logprobs": 2, "seed": 1, "stream": true})");
  const CompletionRequest& r = call.request;
  EXPECT_EQ(call.id.rfind("cmpl-", 0), 0u);
  EXPECT_EQ(r.kind, CompletionRequest::Kind::Generate);
  EXPECT_EQ(r.prompt, "Once");
  EXPECT_EQ(r.suffix, "end");
  EXPECT_EQ(r.options.num_predict, 16);
  EXPECT_EQ(r.options.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(r.options.top_p, 1.0);  // 0 means "not given" here
  EXPECT_EQ(r.options.temperature, 1.0);
  EXPECT_EQ(r.options.frequency_penalty, 0.0);  // always sent
  EXPECT_EQ(r.options.presence_penalty, 0.0);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
  EXPECT_TRUE(call.stream);
}

TEST(OpenAICompletion, Errors) {
  EXPECT_API_ERROR(decode_openai_completion(R"({"model":"m","stop":["a",1.5]})"), 400,
                   "invalid type for 'stop' field: float64");
  EXPECT_API_ERROR(decode_openai_completion(R"({"model":"m","prompt":["a"]})"), 400,
                   "json: cannot unmarshal array into Go struct field CompletionRequest.prompt of "
                   "type string");
  EXPECT_API_ERROR(decode_openai_completion(R"({"prompt":"x"})"), 404, "model '' not found");
  EXPECT_API_ERROR(decode_openai_completion(R"({"model":"m","logprobs":21})"), 400,
                   "top_logprobs must be between 0 and 20");
}

TEST(OpenAIEmbeddings, Validation) {
  EXPECT_EQ(decode_openai_embeddings(R"({"model":"m","input":""})").input, Json::array({""}));
  EXPECT_API_ERROR(decode_openai_embeddings(R"({"model":"m"})"), 400, "invalid input");
  EXPECT_API_ERROR(decode_openai_embeddings(R"({"model":"m","input":[]})"), 400, "invalid input");
  EXPECT_API_ERROR(decode_openai_embeddings(R"({"model":"m","input":"x","encoding_format":"hex"})"),
                   400,
                   "Invalid value for 'encoding_format' = hex. Supported values: ['float', "
                   "'base64'].");
  EXPECT_NO_THROW(
      decode_openai_embeddings(R"({"model":"m","input":"x","encoding_format":"BASE64"})"));
  EXPECT_API_ERROR(decode_openai_embeddings(R"({"model":"m","input":[[1,2]]})"), 400,
                   "invalid input type");
}

TEST(OpenAIIds, ToolCallIdShape) {
  const std::string id = new_tool_call_id();
  ASSERT_EQ(id.size(), 13u);
  EXPECT_EQ(id.substr(0, 5), "call_");
  for (const char c : id.substr(5)) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

}  // namespace
}  // namespace ollmlx::api
