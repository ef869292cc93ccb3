// Streaming and completion behaviour over HTTP: NDJSON framing flushed per chunk, stream:false
// aggregation, load/unload single objects, errors before and after the first byte, concurrent
// streams, client disconnects (sink refuses, queued requests cancelled) and shutdown.
#include <gtest/gtest.h>

#include <thread>

#include "api/service.h"
#include "raw_http.h"
#include "server_fixture.h"

namespace ollmlx::server::testing {
namespace {

using namespace std::chrono_literals;
using api::Json;

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST_F(ServerTest, GenerateStreamsNdjsonByDefault) {
  start();
  auto r = client().Post("/api/generate", R"({"model":"llama3.2","prompt":"hi"})",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  const auto lines = ndjson_lines(r->body);
  ASSERT_EQ(lines.size(), 3u);
  const Json a = Json::parse(lines[0]), b = Json::parse(lines[1]), f = Json::parse(lines[2]);
  EXPECT_EQ(a["model"], "llama3.2");
  EXPECT_EQ(a["response"], "Hel");
  EXPECT_EQ(a["done"], false);
  EXPECT_EQ(b["response"], "lo");
  EXPECT_EQ(f["done"], true);
  EXPECT_EQ(f["done_reason"], "stop");
  EXPECT_EQ(f["response"], "");
  EXPECT_EQ(f["eval_count"], 2);
  EXPECT_EQ(f["eval_duration"], 20000000);
  EXPECT_TRUE(f["created_at"].get<std::string>().back() == 'Z');
  const auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].prompt, "hi");
  EXPECT_EQ(reqs[0].kind, api::CompletionRequest::Kind::Generate);
}

TEST_F(ServerTest, ChunksAreFlushedOneByOne) {
  fake.script = [](const api::CompletionRequest&) {
    return text_script({"a", "b", "c"}, 30ms);
  };
  start();
  RawHttp raw(port);
  raw.request("POST", "/api/chat", R"({"model":"m","messages":[{"role":"user","content":"x"}]})");
  const RawHead head = raw.read_head();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("transfer-encoding"), "chunked");
  EXPECT_EQ(head.header("content-type"), "application/x-ndjson");
  std::vector<std::string> contents;
  for (;;) {
    const std::string chunk = raw.read_chunk();
    if (chunk.empty()) break;
    ASSERT_EQ(chunk.back(), '\n');
    ASSERT_EQ(chunk.find('\n'), chunk.size() - 1) << "one JSON object per HTTP chunk: " << chunk;
    const Json j = Json::parse(chunk);
    contents.push_back(j["message"]["content"].get<std::string>());
    if (j["done"] == true) {
      EXPECT_EQ(j["message"]["role"], "assistant");
    }
  }
  EXPECT_EQ(contents, (std::vector<std::string>{"a", "b", "c", ""}));
}

TEST_F(ServerTest, StreamFalseAggregates) {
  fake.script = [](const api::CompletionRequest&) {
    Script s = text_script({"Hel", "lo"});
    s.chunks[0].thinking = "th";
    s.chunks[1].logprobs = {{"lo", -0.5, {108, 111}, {}}};
    s.chunks[1].tool_calls = Json::parse(R"([{"function":{"name":"f","arguments":{"a":1}}}])");
    s.result.context = {7, 8};
    return s;
  };
  start();
  auto c = client();
  auto r = c.Post("/api/generate", R"({"model":"m","prompt":"x","stream":false})",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["response"], "Hello");
  EXPECT_EQ(j["thinking"], "th");
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["context"], Json::array({7, 8}));
  EXPECT_EQ(j["logprobs"][0]["bytes"], Json::array({108, 111}));
  EXPECT_EQ(j["tool_calls"][0]["function"]["name"], "f");
  r = c.Post("/api/chat", R"({"model":"m","stream":false,"messages":[]})", "application/json");
  j = Json::parse(r->body);
  EXPECT_EQ(j["message"]["content"], "Hello");
  EXPECT_EQ(j["message"]["tool_calls"][0]["function"]["arguments"]["a"], 1);
}

TEST_F(ServerTest, LoadAndUnloadAreSingleObjectsEvenWhenStreaming) {
  fake.script = [](const api::CompletionRequest& r) {
    Script s;
    s.result.done_reason = r.keep_alive && r.keep_alive->duration.count() == 0 ? "unload" : "load";
    return s;
  };
  start();
  auto c = client();
  auto r = c.Post("/api/generate", R"({"model":"llama3.2"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["done_reason"], "load");
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["response"], "");
  r = c.Post("/api/chat", R"({"model":"llama3.2","messages":[],"keep_alive":0})",
             "application/json");
  j = Json::parse(r->body);
  EXPECT_EQ(j["done_reason"], "unload");
  EXPECT_EQ(j["message"], Json({{"role", "assistant"}, {"content", ""}}));
}

TEST_F(ServerTest, EmptyCompletionStreamsJustTheFinalLine) {
  fake.script = [](const api::CompletionRequest&) { return text_script({}); };
  start();
  auto r = client().Post("/api/generate", R"({"model":"m","prompt":"x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  const auto lines = ndjson_lines(r->body);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Json::parse(lines[0])["done"], true);
}

TEST_F(ServerTest, MidStreamErrorIsTheLastLine) {
  fake.script = [](const api::CompletionRequest&) {
    Script s = text_script({"partial"});
    s.fail_after = api::ApiError(500, "llama runner process has terminated: <boom>");
    return s;
  };
  start();
  auto r = client().Post("/api/generate", R"({"model":"m","prompt":"x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const auto lines = ndjson_lines(r->body);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(Json::parse(lines[0])["response"], "partial");
  EXPECT_EQ(lines[1],
            "{\"error\":\"llama runner process has terminated: \\u003cboom\\u003e\"}");
}

TEST_F(ServerTest, ConcurrentStreams) {
  fake.script = [](const api::CompletionRequest& r) {
    return text_script({r.prompt, "-1", "-2", "-3", "-4"}, 20ms);
  };
  start();
  constexpr int kClients = 6;
  std::vector<std::string> bodies(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto r = client().Post("/api/generate",
                             R"({"model":"m","prompt":"c)" + std::to_string(i) + "\"}",
                             "application/json");
      if (r) bodies[i] = r->body;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    const auto lines = ndjson_lines(bodies[i]);
    ASSERT_EQ(lines.size(), 6u) << bodies[i];
    std::string text;
    for (const auto& l : lines) text += Json::parse(l)["response"].get<std::string>();
    EXPECT_EQ(text, "c" + std::to_string(i) + "-1-2-3-4");
  }
  EXPECT_GE(fake.max_active.load(), 2);  // they ran at the same time, not one after another
}

TEST_F(ServerTest, ClientDisconnectMidStreamStopsTheEngine) {
  fake.script = [](const api::CompletionRequest&) {
    Script s = text_script({"tok"}, 5ms);
    s.endless = true;
    return s;
  };
  start();
  {
    RawHttp raw(port);
    raw.request("POST", "/api/generate", R"({"model":"m","prompt":"x"})");
    EXPECT_EQ(raw.read_head().status, 200);
    EXPECT_NE(raw.read_chunk().find("tok"), std::string::npos);
  }  // hang up
  ASSERT_TRUE(fake.wait_finished(1));
  EXPECT_EQ(fake.sink_refused.load(), 1);
  EXPECT_EQ(client().Get("/")->status, 200);
}

TEST_F(ServerTest, ClientDisconnectWhileQueuedCancels) {
  fake.script = [](const api::CompletionRequest&) {
    Script s;
    s.wait_for_cancel = true;
    return s;
  };
  start();
  for (const char* stream : {"true", "false"}) {
    SCOPED_TRACE(stream);
    const int before = fake.cancel_seen.load();
    {
      RawHttp raw(port);
      raw.request("POST", "/api/chat",
                  std::string(R"({"model":"m","messages":[],"stream":)") + stream + "}");
      ASSERT_TRUE(wait_until([&] { return fake.calls.load() > before; }));
    }  // hang up while the engine still holds the request
    ASSERT_TRUE(wait_until([&] { return fake.cancel_seen.load() == before + 1; }));
  }
}

TEST_F(ServerTest, StopEndsRunningStreams) {
  fake.script = [](const api::CompletionRequest&) {
    Script s = text_script({"tok"}, 5ms);
    s.endless = true;
    return s;
  };
  start();
  RawHttp raw(port);
  raw.request("POST", "/api/generate", R"({"model":"m","prompt":"x"})");
  EXPECT_EQ(raw.read_head().status, 200);
  raw.read_chunk();
  const auto t0 = std::chrono::steady_clock::now();
  stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(fake.wait_finished(1));
  EXPECT_EQ(fake.sink_refused.load(), 1);
}

TEST_F(ServerTest, RequestFieldsReachTheEngine) {
  start();
  auto r = client().Post("/api/chat", R"({"model":"qwen3","messages":[{"role":"user",
      "content":"hi","images":["aGk="]}],"format":{"type":"object"},"think":"low",
      "tools":[{"type":"function","function":{"name":"f"}}],"keep_alive":"1h",
      "options":{"temperature":0.1,"bogus":1},"truncate":false,"logprobs":true,
      "top_logprobs":2,"stream":false})",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& q = reqs[0];
  EXPECT_EQ(q.kind, api::CompletionRequest::Kind::Chat);
  EXPECT_EQ(q.messages[0].images, (std::vector<std::string>{"aGk="}));
  EXPECT_EQ(q.format, Json({{"type", "object"}}));
  EXPECT_EQ(q.think, Json("low"));
  EXPECT_EQ(q.tools[0]["function"]["name"], "f");
  EXPECT_EQ(q.keep_alive->duration, std::chrono::hours(1));
  EXPECT_EQ(q.options.temperature, 0.1);
  EXPECT_EQ(q.options.ignored, (std::vector<std::string>{"bogus"}));
  EXPECT_FALSE(q.truncate);
  EXPECT_TRUE(q.logprobs);
  EXPECT_EQ(q.top_logprobs, 2);
}

}  // namespace
}  // namespace ollmlx::server::testing
