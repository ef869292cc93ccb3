// OLLAMA_HOST / OLLMLX_HOST parsing (Ollama's envconfig.Host table) and environment settings.
#include <gtest/gtest.h>

#include <cstdlib>

#include "server/host_check.h"
#include "server/http_server.h"

namespace ollmlx::server {
namespace {

struct HostCase {
  const char* in;
  const char* scheme;
  const char* host;
  int port;
};

TEST(OllamaHost, ParsesLikeOllama) {
  const HostCase cases[] = {
      {"", "http", "127.0.0.1", 11434},
      {"1.2.3.4", "http", "1.2.3.4", 11434},
      {":1234", "http", "", 1234},
      {"1.2.3.4:1234", "http", "1.2.3.4", 1234},
      {"example.com", "http", "example.com", 11434},
      {"example.com:1234", "http", "example.com", 1234},
      {"0.0.0.0", "http", "0.0.0.0", 11434},
      {"0.0.0.0:8080", "http", "0.0.0.0", 8080},
      {"[::1]", "http", "::1", 11434},
      {"[::1]:1234", "http", "::1", 1234},
      {"::1", "http", "::1", 11434},
      {"http://1.2.3.4", "http", "1.2.3.4", 80},
      {"https://1.2.3.4", "https", "1.2.3.4", 443},
      {"http://1.2.3.4:5000", "http", "1.2.3.4", 5000},
      {"https://example.com:8443/path", "https", "example.com", 8443},
      {"ollama.com", "https", "ollama.com", 443},
      {"1.2.3.4:abc", "http", "1.2.3.4", 11434},
      {"1.2.3.4:70000", "http", "1.2.3.4", 11434},
      {"1.2.3.4:", "http", "1.2.3.4", 11434},
      {"  localhost:99  ", "http", "localhost", 99},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    const HostPort hp = parse_ollama_host(c.in);
    EXPECT_EQ(hp.scheme, c.scheme);
    EXPECT_EQ(hp.host, c.host);
    EXPECT_EQ(hp.port, c.port);
  }
  EXPECT_EQ(parse_ollama_host("https://example.com:8443/path").path, "path");
}

TEST(ConfigFromEnv, ReadsTheVariables) {
  setenv("OLLAMA_HOST", "\"0.0.0.0:9999\"", 1);
  unsetenv("OLLMLX_HOST");
  setenv("OLLAMA_ORIGINS", "https://a.example,chrome-extension://*", 1);
  setenv("OLLMLX_API_KEY", " secret ", 1);
  setenv("OLLAMA_DEBUG", "2", 1);
  ServerConfig c = config_from_env();
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9999);
  EXPECT_EQ(c.origins, (std::vector<std::string>{"https://a.example", "chrome-extension://*"}));
  EXPECT_EQ(c.api_key, "secret");
  EXPECT_EQ(c.debug_level, 2);
  setenv("OLLMLX_HOST", "127.0.0.1:1111", 1);
  setenv("OLLAMA_DEBUG", "true", 1);
  c = config_from_env();
  EXPECT_EQ(c.port, 1111);
  EXPECT_EQ(c.debug_level, 1);
  setenv("OLLAMA_DEBUG", "false", 1);
  EXPECT_EQ(config_from_env().debug_level, 0);
  for (const char* v : {"OLLAMA_HOST", "OLLMLX_HOST", "OLLAMA_ORIGINS", "OLLMLX_API_KEY",
                        "OLLAMA_DEBUG"}) {
    unsetenv(v);
  }
  c = config_from_env();
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 11434);
  EXPECT_TRUE(c.origins.empty());
  EXPECT_TRUE(c.api_key.empty());
  EXPECT_EQ(c.ollama_version, kOllamaApiVersion);
}

TEST(HostCheck, Verdicts) {
  for (const char* ok : {"127.0.0.1:11434", "localhost:11434", "localhost", "[::1]:11434",
                         "[::1]", "10.0.0.5", "192.168.1.2:80", "172.16.0.1", "0.0.0.0", "",
                         "foo.localhost", "printer.local:631", "svc.internal", "LOCALHOST"}) {
    SCOPED_TRACE(ok);
    EXPECT_EQ(check_host(ok, "GET"), HostVerdict::Allow);
  }
  for (const char* bad : {"example.com", "evil.com:11434", "8.8.8.8", "localhost.evil.com",
                          "1.2.3.4:80"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(check_host(bad, "GET"), HostVerdict::Forbidden);
  }
  EXPECT_EQ(check_host("localhost:11434", "OPTIONS"), HostVerdict::NoContent);
  EXPECT_EQ(check_host("127.0.0.1:11434", "OPTIONS"), HostVerdict::Allow);
  EXPECT_TRUE(is_loopback_bind("127.0.0.1"));
  EXPECT_TRUE(is_loopback_bind("::1"));
  EXPECT_TRUE(is_loopback_bind("localhost"));
  EXPECT_FALSE(is_loopback_bind("0.0.0.0"));
  EXPECT_FALSE(is_loopback_bind(""));
}

}  // namespace
}  // namespace ollmlx::server
