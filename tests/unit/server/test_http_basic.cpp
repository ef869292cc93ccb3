// HTTP behaviour of the native routes: index/version, routing (404/405/redirect), model
// management answers, error bodies and content types, body limits, not-yet-available features.
#include <gtest/gtest.h>

#include "api/service.h"
#include "raw_http.h"
#include "server_fixture.h"
#include "util/version.h"

namespace ollmlx::server::testing {
namespace {

constexpr const char* kJsonUtf8 = "application/json; charset=utf-8";

TEST_F(ServerTest, IndexAndHead) {
  start();
  auto c = client();
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "Ollama is running");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  r = c.Head("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
}

TEST_F(ServerTest, Version) {
  start();
  auto r = client().Get("/api/version");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, std::string("{\"version\":\"") + kOllamaApiVersion + "\"}");
  EXPECT_EQ(r->get_header_value("Content-Type"), kJsonUtf8);
  EXPECT_EQ(r->get_header_value("X-Ollmlx-Version"), kVersion);
  EXPECT_EQ(client().Head("/api/version")->status, 200);
}

TEST_F(ServerTest, UnknownRoutesAndWrongMethods) {
  start();
  auto c = client();
  auto r = c.Get("/api/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "404 page not found");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain");
  r = c.Get("/api/show");
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->body, "405 method not allowed");
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  EXPECT_EQ(c.Post("/api/tags", "{}", "application/json")->status, 405);
  EXPECT_EQ(c.Get("/api/chat")->status, 405);
  EXPECT_EQ(c.Post("/api/delete", "{}", "application/json")->status, 405);
  EXPECT_EQ(c.Head("/api/ps")->status, 405);
  EXPECT_EQ(c.Put("/api/generate", "{}", "application/json")->status, 405);
  EXPECT_EQ(c.Get("/api/blobs/sha256:x/y")->status, 404);
  r = c.Get("/api/tags/");
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->get_header_value("Location"), "/api/tags");
}

TEST_F(ServerTest, TagsPsShow) {
  start();
  auto c = client();
  auto r = c.Get("/api/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), kJsonUtf8);
  auto j = api::Json::parse(r->body);
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0]["model"], "llama3.2:latest");
  EXPECT_FALSE(j["models"][0].contains("expires_at"));
  EXPECT_EQ(c.Head("/api/tags")->status, 200);
  fake.models.clear();
  EXPECT_EQ(c.Get("/api/tags")->body, "{\"models\":[]}");
  r = c.Get("/api/ps");
  EXPECT_EQ(r->body, "{\"models\":[]}");

  fake.models.push_back(api::ModelEntry{});
  fake.models.back().name = "llama3.2:latest";
  r = c.Post("/api/show", R"({"model":"llama3.2"})", "application/json");
  EXPECT_EQ(r->status, 200);
  j = api::Json::parse(r->body);
  EXPECT_EQ(j["model_info"]["llama.context_length"], 131072);
  EXPECT_EQ(j["capabilities"][1], "tools");
  r = c.Post("/api/show", R"({"model":"nope"})", "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{\"error\":\"model 'nope:latest' not found\"}");
  EXPECT_EQ(r->get_header_value("Content-Type"), kJsonUtf8);
  r = c.Post("/api/show", "", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{\"error\":\"missing request body\"}");
  r = c.Post("/api/show", "{}", "application/json");
  EXPECT_EQ(r->body, "{\"error\":\"model is required\"}");
}

TEST_F(ServerTest, CopyAndDelete) {
  start();
  auto c = client();
  auto r = c.Post("/api/copy", R"({"source":"llama3.2","destination":"backup"})",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  ASSERT_EQ(fake.copies.size(), 1u);
  EXPECT_EQ(fake.copies[0].second, "backup");
  r = c.Post("/api/copy", R"({"source":"missing","destination":"b"})", "application/json");
  EXPECT_EQ(r->status, 404);
  r = c.Delete("/api/delete", R"({"model":"llama3.2"})", "application/json");
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  r = c.Delete("/api/delete", R"({"model":"ghost"})", "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{\"error\":\"model 'ghost' not found\"}");
}

TEST_F(ServerTest, DecodeErrorsAreJson) {
  start();
  auto c = client();
  auto r = c.Post("/api/chat", "{\"model\":", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{\"error\":\"unexpected EOF\"}");
  r = c.Post("/api/chat", "null", "application/json");
  EXPECT_EQ(r->body, "{\"error\":\"model is required\"}");
  r = c.Post("/api/generate", "{}", "text/plain");  // content type is not checked
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{\"error\":\"model '' not found\"}");
  r = c.Post("/api/generate", R"({"model":"m","prompt":1})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body,
            "{\"error\":\"json: cannot unmarshal number into Go struct field "
            "GenerateRequest.prompt of type string\"}");
  r = c.Post("/api/generate", R"({"model":"m","options":{"num_ctx":"big"}})", "application/json");
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "{\"error\":\"option \\\"num_ctx\\\" must be of type integer\"}");
  r = c.Post("/api/generate", R"({"model":"m","keep_alive":"300"})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{\"error\":\"time: missing unit in duration \\\"300\\\"\"}");
  EXPECT_EQ(fake.calls.load(), 0);
}

TEST_F(ServerTest, EngineErrorsKeepTheirStatus) {
  fake.script = [](const api::CompletionRequest& r) {
    Script s;
    if (r.model == "busy") {
      s.fail_before = api::ApiError(503, "server busy, please try again.  maximum pending "
                                         "requests exceeded");
    } else {
      s.fail_before = api::ApiError(400, "\"bert\" does not support generate");
    }
    return s;
  };
  start();
  auto c = client();
  for (const bool stream : {true, false}) {
    const std::string s = stream ? "true" : "false";
    auto r = c.Post("/api/generate", R"({"model":"busy","prompt":"x","stream":)" + s + "}",
                    "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->get_header_value("Content-Type"), kJsonUtf8);
    EXPECT_EQ(r->body,
              "{\"error\":\"server busy, please try again.  maximum pending requests exceeded\"}");
    r = c.Post("/api/generate", R"({"model":"bert","prompt":"x","stream":)" + s + "}",
               "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body, "{\"error\":\"\\\"bert\\\" does not support generate\"}");
  }
}

TEST_F(ServerTest, NonApiExceptionsAre500AndTheServerKeepsServing) {
  fake.script = [](const api::CompletionRequest&) -> Script {
    throw std::runtime_error("engine exploded");
  };
  start();
  auto c = client();
  auto r = c.Post("/api/chat", R"({"model":"m","stream":false})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "{\"error\":\"engine exploded\"}");
  r = c.Post("/api/chat", R"({"model":"m"})", "application/json");
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(c.Get("/")->status, 200);
}

TEST_F(ServerTest, NotAvailableYet) {
  start();
  auto c = client();
  auto r = c.Post("/api/pull", R"({"model":"llama3.2"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501);
  EXPECT_EQ(r->body.rfind("{\"error\":\"pull is not available: this server has no model store", 0), 0u);
  EXPECT_EQ(c.Post("/api/pull", "{}", "application/json")->body,
            "{\"error\":\"invalid model name\"}");
  EXPECT_EQ(c.Post("/api/push", R"({"model":"a/b"})", "application/json")->status, 501);
  EXPECT_EQ(c.Post("/api/create", R"({"model":"a","from":"b"})", "application/json")->status, 501);
  const std::string digest = "sha256:" + std::string(64, 'a');
  r = c.Post("/api/blobs/" + digest, "data", "application/octet-stream");
  EXPECT_EQ(r->status, 501);
  r = c.Post("/api/blobs/sha256:123", "data", "application/octet-stream");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{\"error\":\"invalid digest format\"}");
  EXPECT_EQ(c.Head("/api/blobs/sha256-" + std::string(64, 'F'))->status, 501);
  EXPECT_EQ(c.Head("/api/blobs/md5:abc")->status, 400);
}

TEST_F(ServerTest, EmbeddingsAreRefusedClearly) {
  start();
  auto c = client();
  auto r = c.Post("/api/embed", R"({"model":"llama3.2","input":"hi"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{\"error\":\"\\\"llama3.2\\\" does not support embeddings\"}");
  r = c.Post("/api/embed", R"({"model":"nomic","input":"hi"})", "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{\"error\":\"model \\\"nomic\\\" not found, try pulling it first\"}");
  r = c.Post("/api/embed", R"({"input":"hi"})", "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{\"error\":\"model '' not found\"}");
  r = c.Post("/api/embeddings", R"({"prompt":"hi"})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "{\"error\":\"model is required\"}");
  EXPECT_EQ(c.Post("/api/embeddings", R"({"model":"llama3.2","prompt":"x"})", "application/json")
                ->status,
            400);
}

TEST_F(ServerTest, BodyLimit) {
  ServerConfig cfg;
  cfg.max_body_bytes = 1024;
  start(cfg);
  auto c = client();
  const std::string big = R"({"model":"m","prompt":")" + std::string(4096, 'x') + "\"}";
  auto r = c.Post("/api/generate", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, "{\"error\":\"request body too large (limit 1024 bytes)\"}");
  EXPECT_EQ(r->get_header_value("Content-Type"), kJsonUtf8);
  EXPECT_EQ(client().Post("/api/generate", R"({"model":"m","prompt":"x","stream":false})",
                          "application/json")
                ->status,
            200);
}

TEST_F(ServerTest, NoCompressionEvenWhenAccepted) {
  start();
  auto c = client();
  c.set_decompress(false);
  auto r = c.Get("/api/tags", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_header("Content-Encoding"));
  EXPECT_EQ(r->body.substr(0, 10), "{\"models\":");
}

TEST_F(ServerTest, LongPathIsServed) {
  start();
  auto r = client().Get("/" + std::string(8000, 'a'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

}  // namespace
}  // namespace ollmlx::server::testing
