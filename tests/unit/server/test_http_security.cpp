// CORS (default origins, OLLAMA_ORIGINS, preflight, refusals), the DNS-rebinding Host check on a
// loopback bind, and optional bearer auth.
#include <gtest/gtest.h>

#include "raw_http.h"
#include "server_fixture.h"

namespace ollmlx::server::testing {
namespace {

TEST_F(ServerTest, CorsDefaultOrigins) {
  start();
  auto c = client();
  for (const char* origin : {"http://localhost", "http://localhost:3000", "https://127.0.0.1:8080",
                             "http://0.0.0.0:5173", "app://obsidian.md", "vscode-webview://abc",
                             "tauri://localhost", "file://"}) {
    SCOPED_TRACE(origin);
    auto r = c.Get("/api/tags", {{"Origin", origin}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), origin);
    EXPECT_EQ(r->get_header_value("Vary"), "Origin");
  }
  auto r = c.Get("/api/tags", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(r->body.empty());
  r = c.Get("/api/tags", {{"Origin", "chrome-extension://abcdef"}});
  EXPECT_EQ(r->status, 403);
  r = c.Get("/api/tags");
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  // An Origin naming this server itself is not a cross-origin request.
  r = c.Get("/api/tags", {{"Origin", "http://127.0.0.1:" + std::to_string(port)}});
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
}

TEST_F(ServerTest, CorsPreflight) {
  start();
  auto r = client().Options("/api/chat", {{"Origin", "http://localhost:3000"},
                                          {"Access-Control-Request-Method", "POST"},
                                          {"Access-Control-Request-Headers", "content-type"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Methods"),
            "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS");
  const std::string headers = r->get_header_value("Access-Control-Allow-Headers");
  for (const char* h : {"authorization", "content-type", "openai-beta", "x-stainless-os",
                        "x-requested-with", "user-agent", "accept"}) {
    EXPECT_NE(headers.find(h), std::string::npos) << h;
  }
  EXPECT_EQ(r->get_header_value("Access-Control-Max-Age"), "43200");
  EXPECT_EQ(r->get_header_value_count("Vary"), 3u);
  EXPECT_EQ(client().Options("/api/chat", {{"Origin", "https://evil.example"}})->status, 403);
}

TEST_F(ServerTest, CorsExtraOriginsAndWildcards) {
  ServerConfig cfg;
  cfg.origins = {"https://app.example.com", "chrome-extension://*", " HTTPS://*.Corp.Example "};
  start(cfg);
  auto c = client();
  for (const char* ok : {"https://app.example.com", "chrome-extension://abcdef",
                         "https://x.corp.example"}) {
    SCOPED_TRACE(ok);
    auto r = c.Get("/api/version", {{"Origin", ok}});
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), ok);
  }
  EXPECT_EQ(c.Get("/api/version", {{"Origin", "https://other.example.com"}})->status, 403);
}

TEST_F(ServerTest, CorsAllowAll) {
  ServerConfig cfg;
  cfg.origins = {"*"};
  start(cfg);
  auto r = client().Get("/api/version", {{"Origin", "https://anything.example"}});
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "*");
}

TEST_F(ServerTest, HostCheckOnLoopback) {
  start();
  auto c = client();
  auto r = c.Get("/api/tags", {{"Host", "evil.example.com"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  for (const char* ok : {"localhost:11434", "127.0.0.1", "my.localhost", "box.local", "[::1]:80"}) {
    SCOPED_TRACE(ok);
    EXPECT_EQ(c.Get("/api/tags", {{"Host", ok}})->status, 200);
  }
  EXPECT_EQ(c.Options("/api/tags", {{"Host", "localhost"}})->status, 204);
  // Without an Origin and on an IP host, OPTIONS falls through to routing (known path -> 405).
  EXPECT_EQ(c.Options("/api/tags")->status, 405);
  EXPECT_EQ(c.Options("/nothing")->status, 404);
}

TEST_F(ServerTest, BearerAuth) {
  ServerConfig cfg;
  cfg.api_key = "s3cret";
  start(cfg);
  auto c = client();
  EXPECT_EQ(c.Get("/")->status, 200);
  EXPECT_EQ(c.Head("/")->status, 200);
  auto r = c.Get("/api/tags");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, "{\"error\":\"unauthorized\"}");
  EXPECT_EQ(c.Get("/api/tags", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(c.Get("/api/tags", {{"Authorization", "Bearer s3cre"}})->status, 401);
  EXPECT_EQ(c.Get("/api/tags", {{"Authorization", "Basic s3cret"}})->status, 401);
  EXPECT_EQ(c.Get("/api/tags", {{"Authorization", "Bearer s3cret"}})->status, 200);
  EXPECT_EQ(c.Get("/api/tags", {{"Authorization", "bearer s3cret"}})->status, 200);
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({})", "application/json")->status, 401);
  // Browsers send no credentials on a preflight: it must still pass.
  EXPECT_EQ(c.Options("/api/chat", {{"Origin", "http://localhost"}})->status, 204);
}

TEST_F(ServerTest, NoAuthByDefaultAndBearerIgnored) {
  start();
  EXPECT_EQ(client().Get("/api/tags", {{"Authorization", "Bearer sk-anything"}})->status, 200);
}

}  // namespace
}  // namespace ollmlx::server::testing
