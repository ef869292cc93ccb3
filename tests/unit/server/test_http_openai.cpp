// The /v1 routes over HTTP: SSE framing and sequence, single answers, model list/retrieve (names
// with '/'), OpenAI-shaped errors, embeddings refused.
#include <gtest/gtest.h>

#include "api/service.h"
#include "raw_http.h"
#include "server_fixture.h"

namespace ollmlx::server::testing {
namespace {

using namespace std::chrono_literals;
using api::Json;

constexpr const char* kChat =
    R"({"model":"llama3.2","messages":[{"role":"user","content":"hi"}])";

TEST_F(ServerTest, OpenAIChatStreamSse) {
  start();
  auto r = client().Post("/v1/chat/completions",
                         std::string(kChat) +
                             R"(,"stream":true,"stream_options":{"include_usage":true}})",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const auto events = sse_events(r->body);
  ASSERT_EQ(events.size(), 5u) << r->body;
  const Json a = Json::parse(events[0]), b = Json::parse(events[1]), fin = Json::parse(events[2]),
             usage = Json::parse(events[3]);
  EXPECT_EQ(a["object"], "chat.completion.chunk");
  EXPECT_EQ(a["choices"][0]["delta"], Json({{"role", "assistant"}, {"content", "Hel"}}));
  EXPECT_EQ(b["choices"][0]["delta"], Json({{"content", "lo"}}));
  EXPECT_EQ(fin["choices"][0]["delta"], Json::object());
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(usage["choices"], Json::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 7);
  EXPECT_EQ(events[4], "[DONE]");
  EXPECT_EQ(a["id"], fin["id"]);
  EXPECT_EQ(a["created"], usage["created"]);
  EXPECT_EQ(a["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  const auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].options.temperature, 1.0);
}

TEST_F(ServerTest, OpenAIChatSingleAnswerByDefault) {
  start();
  auto r = client().Post("/v1/chat/completions", std::string(kChat) + "}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const Json j = Json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["system_fingerprint"], "fp_ollama");
}

TEST_F(ServerTest, OpenAITextCompletions) {
  start();
  auto c = client();
  auto r = c.Post("/v1/completions", R"({"model":"m","prompt":"x","stream":true})",
                  "application/json");
  ASSERT_TRUE(r);
  const auto events = sse_events(r->body);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(Json::parse(events[0])["choices"][0]["text"], "Hel");
  EXPECT_EQ(Json::parse(events[2])["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(events[3], "[DONE]");
  r = c.Post("/v1/completions", R"({"model":"m","prompt":"x"})", "application/json");
  const Json j = Json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "Hello");
}

TEST_F(ServerTest, OpenAIErrors) {
  fake.script = [](const api::CompletionRequest& r) {
    Script s = text_script({"x"});
    if (r.model == "missing") s.fail_before = api::ApiError(404, "model 'missing' not found");
    if (r.model == "late") s.fail_after = api::ApiError(500, "runner died");
    return s;
  };
  start();
  auto c = client();
  auto r = c.Post("/v1/chat/completions", R"({"model":"m","messages":[]})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body,
            R"({"error":{"message":"[] is too short - 'messages'","type":"invalid_request_error",)"
            R"("param":null,"code":null}})"
            "\n");
  r = c.Post("/v1/chat/completions",
             R"({"model":"missing","messages":[{"role":"user","content":"x"}],"stream":true})",
             "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Json::parse(r->body)["error"]["type"], "not_found_error");
  r = c.Post("/v1/chat/completions", "{", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Json::parse(r->body)["error"]["message"], "unexpected EOF");
  r = c.Post("/v1/chat/completions",
             R"({"model":"late","messages":[{"role":"user","content":"x"}],"stream":true})",
             "application/json");
  EXPECT_EQ(r->status, 200);
  const auto events = sse_events(r->body);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Json::parse(events[1])["error"]["message"], "runner died");
  r = c.Post("/v1/completions", R"({"prompt":"x"})", "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Json::parse(r->body)["error"]["message"], "model '' not found");
}

TEST_F(ServerTest, OpenAIModels) {
  start();
  auto c = client();
  auto r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["owned_by"], "library");
  EXPECT_EQ(j["data"][1]["owned_by"], "mlx-community");
  r = c.Get("/v1/models/mlx-community/Qwen3-4B-4bit:latest");
  EXPECT_EQ(r->status, 200);
  j = Json::parse(r->body);
  EXPECT_EQ(j["id"], "mlx-community/Qwen3-4B-4bit:latest");
  EXPECT_EQ(j["owned_by"], "mlx-community");
  EXPECT_EQ(j["created"], 1700000000);
  r = c.Get("/v1/models/nope");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Json::parse(r->body)["error"]["type"], "not_found_error");
  fake.models.clear();
  EXPECT_EQ(c.Get("/v1/models")->body, "{\"object\":\"list\",\"data\":[]}\n");
}

TEST_F(ServerTest, OpenAIEmbeddingsRefused) {
  start();
  auto c = client();
  auto r = c.Post("/v1/embeddings", R"({"model":"llama3.2","input":"hi"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Json::parse(r->body)["error"]["message"], "\"llama3.2\" does not support embeddings");
  r = c.Post("/v1/embeddings", R"({"model":"m","input":[]})", "application/json");
  EXPECT_EQ(Json::parse(r->body)["error"]["message"], "invalid input");
}

TEST_F(ServerTest, OpenAIStreamDisconnectStopsTheEngine) {
  fake.script = [](const api::CompletionRequest&) {
    Script s = text_script({"tok"}, 5ms);
    s.endless = true;
    return s;
  };
  start();
  {
    RawHttp raw(port);
    raw.request("POST", "/v1/chat/completions", std::string(kChat) + R"(,"stream":true})");
    EXPECT_EQ(raw.read_head().header("content-type"), "text/event-stream");
    EXPECT_EQ(raw.read_chunk().rfind("data: ", 0), 0u);
  }
  ASSERT_TRUE(fake.wait_finished(1));
  EXPECT_EQ(fake.sink_refused.load(), 1);
}

}  // namespace
}  // namespace ollmlx::server::testing
