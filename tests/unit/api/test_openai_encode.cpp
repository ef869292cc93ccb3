// /v1 answers: the chat SSE sequence (role once, shared created, reasoning split, finish chunk
// with an empty delta, usage chunk, [DONE]), chat.completion, text_completion, models, errors.
#include <gtest/gtest.h>

#include "api/go_json.h"
#include "api/openai.h"

namespace ollmlx::api {
namespace {

OpenAICompletion call(CompletionRequest::Kind kind, bool include_usage) {
  OpenAICompletion c;
  c.request.kind = kind;
  c.request.model = "llama3.2";
  c.id = kind == CompletionRequest::Kind::Chat ? "chatcmpl-42" : "cmpl-7";
  c.created = 1700000000;
  c.include_usage = include_usage;
  return c;
}

CompletionChunk text(const std::string& s) {
  CompletionChunk c;
  c.content = s;
  return c;
}

CompletionResult done(const std::string& reason) {
  CompletionResult r;
  r.done_reason = reason;
  r.prompt_eval_count = 10;
  r.eval_count = 3;
  return r;
}

const std::string kHead =
    R"({"id":"chatcmpl-42","object":"chat.completion.chunk","created":1700000000,)"
    R"("model":"llama3.2","system_fingerprint":"fp_ollama",)";

TEST(OpenAIChatStream, Sequence) {
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, true));
  EXPECT_EQ(f->stream_content_type(), "text/event-stream");
  EXPECT_EQ(f->chunk(text("Hel")),
            "data: " + kHead +
                R"("choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},)"
                R"("finish_reason":null}]})" + "\n\n");
  EXPECT_EQ(f->chunk(text("lo")),
            "data: " + kHead +
                R"("choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]})" +
                "\n\n");
  EXPECT_EQ(f->finish(done("stop")),
            "data: " + kHead + R"("choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})" +
                "\n\n" + "data: " + kHead +
                R"("choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,)"
                R"("total_tokens":13}})" + "\n\n" + "data: [DONE]\n\n");
}

TEST(OpenAIChatStream, EmptyCompletionStillOpensWithRole) {
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  EXPECT_EQ(f->finish(done("length")),
            "data: " + kHead +
                R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},)"
                R"("finish_reason":null}]})" + "\n\n" + "data: " + kHead +
                R"("choices":[{"index":0,"delta":{},"finish_reason":"length"}]})" + "\n\n" +
                "data: [DONE]\n\n");
}

TEST(OpenAIChatStream, ReasoningIsSplitFromContent) {
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  CompletionChunk c;
  c.thinking = "why";
  c.content = "because";
  c.logprobs = {{"because", -0.5, {}, {}}};
  EXPECT_EQ(f->chunk(c),
            "data: " + kHead +
                R"("choices":[{"index":0,"delta":{"role":"assistant","content":"",)"
                R"("reasoning":"why"},"finish_reason":null,"logprobs":{"content":[{"token":)"
                R"("because","logprob":-0.5}]}}]})" + "\n\n" + "data: " + kHead +
                R"("choices":[{"index":0,"delta":{"content":"because"},"finish_reason":null}]})" +
                "\n\n");
  CompletionChunk t;
  t.thinking = "more";
  EXPECT_EQ(f->chunk(t), "data: " + kHead +
                             R"("choices":[{"index":0,"delta":{"content":"","reasoning":"more"},)"
                             R"("finish_reason":null}]})" + "\n\n");
}

TEST(OpenAIChatStream, ToolCallsWholeAndFinishReason) {
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  CompletionChunk c;
  c.tool_calls = Json::parse(
      R"([{"id":"call_abcd1234","function":{"index":0,"name":"get_weather",)"
      R"("arguments":{"city":"<Tokyo>"}}}])");
  EXPECT_EQ(f->chunk(c),
            "data: " + kHead +
                R"("choices":[{"index":0,"delta":{"role":"assistant","content":"",)"
                R"("tool_calls":[{"id":"call_abcd1234","index":0,"type":"function","function":)"
                R"({"name":"get_weather","arguments":"{\"city\":\"\\u003cTokyo\\u003e\"}"}}]},)"
                R"("finish_reason":null}]})" + "\n\n");
  EXPECT_EQ(f->finish(done("stop")),
            "data: " + kHead +
                R"("choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})" +
                "\n\n" + "data: [DONE]\n\n");
}

TEST(OpenAIChatStream, LengthWinsOverToolCalls) {
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  CompletionChunk c;
  c.tool_calls = Json::parse(R"([{"function":{"name":"f","arguments":{}}}])");
  const std::string out = f->chunk(c);
  EXPECT_NE(out.find(R"("id":"call_)"), std::string::npos);  // an id is made up when missing
  EXPECT_NE(f->finish(done("length")).find(R"("finish_reason":"length")"), std::string::npos);
}

TEST(OpenAIChatWhole, Completion) {
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  CompletionChunk a = text("Hello");
  a.thinking = "r";
  f->add(a);
  f->add(text(" world"));
  const Body b = f->whole(done("stop"));
  EXPECT_EQ(b.content_type, "application/json");
  EXPECT_EQ(b.data,
            R"({"id":"chatcmpl-42","object":"chat.completion","created":1700000000,)"
            R"("model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,)"
            R"("message":{"role":"assistant","content":"Hello world","reasoning":"r"},)"
            R"("finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":3,)"
            R"("total_tokens":13}})"
            "\n");
  auto g = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  CompletionChunk t;
  t.tool_calls = Json::parse(R"([{"id":"call_1","function":{"name":"f","arguments":{"a":1}}}])");
  g->add(t);
  const std::string s = g->whole(done("stop")).data;
  EXPECT_NE(s.find(R"("tool_calls":[{"id":"call_1","index":0,"type":"function",)"
                   R"("function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":)"
                   R"("tool_calls")"),
            std::string::npos)
      << s;
}

TEST(OpenAIChat, DebugRenderOnly) {
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  CompletionResult r;
  r.rendered = "prompt";
  const auto b = f->immediate(r);
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(b->data.find(R"("_debug_info":{"rendered_template":"prompt"})"), std::string::npos);
  EXPECT_FALSE(f->immediate(done("stop")).has_value());
}

const std::string kText =
    R"({"id":"cmpl-7","object":"text_completion","created":1700000000,"choices":[)";

TEST(OpenAITextStream, SequenceWithUsage) {
  auto f = openai_completion_format(call(CompletionRequest::Kind::Generate, true));
  EXPECT_EQ(f->chunk(text("Once")),
            "data: " + kText +
                R"({"text":"Once","index":0,"finish_reason":null}],"model":"llama3.2",)"
                R"("system_fingerprint":"fp_ollama","usage":{"prompt_tokens":0,)"
                R"("completion_tokens":0,"total_tokens":0}})" + "\n\n");
  EXPECT_EQ(f->chunk(CompletionChunk{}), "");
  EXPECT_EQ(f->finish(done("stop")),
            "data: " + kText +
                R"({"text":"","index":0,"finish_reason":"stop"}],"model":"llama3.2",)"
                R"("system_fingerprint":"fp_ollama","usage":{"prompt_tokens":0,)"
                R"("completion_tokens":0,"total_tokens":0}})" + "\n\n" + "data: " + kText +
                R"(],"model":"llama3.2","system_fingerprint":"fp_ollama","usage":)"
                R"({"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}})" + "\n\n" +
                "data: [DONE]\n\n");
}

TEST(OpenAITextWhole, CompletionWithLegacyLogprobs) {
  auto f = openai_completion_format(call(CompletionRequest::Kind::Generate, false));
  CompletionChunk a = text("Hi");
  a.logprobs = {{"Hi", -0.5, {}, {{"Hi", -0.5, {}}, {"Yo", -2, {}}}}};
  f->add(a);
  EXPECT_EQ(f->whole(done("length")).data,
            R"({"id":"cmpl-7","object":"text_completion","created":1700000000,)"
            R"("model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"text":"Hi",)"
            R"("index":0,"finish_reason":"length","logprobs":{"tokens":["Hi"],)"
            R"("token_logprobs":[-0.5],"top_logprobs":[{"Hi":-0.5,"Yo":-2}],"text_offset":[0]}}],)"
            R"("usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}})"
            "\n");
}

TEST(OpenAIErrors, Shape) {
  EXPECT_EQ(go_json(openai_error_json(400, "bad")),
            R"({"error":{"message":"bad","type":"invalid_request_error","param":null,)"
            R"("code":null}})");
  EXPECT_EQ(openai_error_json(404, "x")["error"]["type"], "not_found_error");
  EXPECT_EQ(openai_error_json(500, "x")["error"]["type"], "api_error");
  EXPECT_EQ(openai_error_json(503, "x")["error"]["type"], "api_error");
  const Body b = openai_error(404, "model 'x' not found");
  EXPECT_EQ(b.status, 404);
  EXPECT_EQ(b.content_type, "application/json");
  auto f = openai_chat_format(call(CompletionRequest::Kind::Chat, false));
  EXPECT_EQ(f->stream_error(500, "boom"),
            R"(data: {"error":{"message":"boom","type":"api_error","param":null,"code":null}})"
            "\n\n");
}

TEST(OpenAIModels, ListAndRetrieve) {
  EXPECT_EQ(encode_openai_models({}), "{\"object\":\"list\",\"data\":[]}\n");
  ModelEntry a, b;
  a.name = "llama3.2:latest";
  a.modified_at = Clock::time_point(std::chrono::seconds(100));
  b.name = "mlx-community/Qwen3-4B-4bit:latest";
  b.modified_at = Clock::time_point(std::chrono::seconds(200));
  EXPECT_EQ(encode_openai_models({a, b}),
            R"({"object":"list","data":[{"id":"mlx-community/Qwen3-4B-4bit:latest",)"
            R"("object":"model","created":200,"owned_by":"mlx-community"},)"
            R"({"id":"llama3.2:latest","object":"model","created":100,"owned_by":"library"}]})"
            "\n");
  ModelShow s;
  s.modified_at = Clock::time_point(std::chrono::seconds(5));
  EXPECT_EQ(encode_openai_model("show-model", s),
            R"({"id":"show-model","object":"model","created":5,"owned_by":"library"})"
            "\n");
}

TEST(OpenAIModels, Namespace) {
  EXPECT_EQ(model_namespace("llama3.2"), "library");
  EXPECT_EQ(model_namespace("user/model:7b"), "user");
  EXPECT_EQ(model_namespace("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"), "bartowski");
  EXPECT_EQ(model_namespace("host:5000/ns/m"), "ns");
  EXPECT_EQ(model_namespace("https://registry.ollama.ai/library/m:latest"), "library");
  EXPECT_EQ(model_namespace("m@sha256:abc"), "library");
}

}  // namespace
}  // namespace ollmlx::api
