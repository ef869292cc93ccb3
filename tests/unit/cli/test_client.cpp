// The CLI's HTTP client against a scripted cpp-httplib server on a loopback port: Ollama's error
// wording for plain and streamed requests, NDJSON delivery, cancellation, the bearer token, and
// the "not running" message.
#include <gtest/gtest.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "cli/client.h"

namespace ollmlx::cli {
namespace {

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("Ollama is running", "text/plain");
    });
    svr.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Ollmlx-Version", "9.9.9");
      res.set_content(R"({"version":"0.12.6"})", "application/json");
    });
    svr.Post("/api/show", [this](const httplib::Request& req, httplib::Response& res) {
      auth = req.get_header_value("Authorization");
      res.status = 404;
      res.set_content(R"({"error":"model 'nope:latest' not found"})", "application/json");
    });
    svr.Get("/api/tags", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"models":[]})", "application/json");
    });
    svr.Post("/api/generate", [](const httplib::Request& req, httplib::Response& res) {
      if (req.body.find("missing") != std::string::npos) {
        res.status = 404;
        res.set_content(R"({"error":"model 'missing' not found"})", "application/json");
        return;
      }
      if (req.body.find("midway") != std::string::npos) {
        res.set_content("{\"response\":\"a\",\"done\":false}\n{\"error\":\"runner crashed\"}\n",
                        "application/x-ndjson");
        return;
      }
      res.set_chunked_content_provider("application/x-ndjson", [](size_t, httplib::DataSink& sink) {
        for (int i = 0; i < 3; ++i) {
          const std::string line = "{\"response\":\"t" + std::to_string(i) + "\",\"done\":false}\n";
          sink.write(line.data(), line.size());
        }
        const std::string last = "{\"response\":\"\",\"done\":true,\"eval_count\":3}";  // no newline
        sink.write(last.data(), last.size());
        sink.done();
        return true;
      });
    });
    svr.Post("/api/slow", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/x-ndjson", [](size_t, httplib::DataSink& sink) {
        const std::string line = "{\"response\":\"x\"}\n";
        if (!sink.write(line.data(), line.size())) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return true;  // streams until the client leaves
      });
    });
    port = svr.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    svr.stop();
    thread.join();
  }
  Client client(const std::string& key = "") { return Client("http", "127.0.0.1", port, "", key); }

  httplib::Server svr;
  std::thread thread;
  int port = 0;
  std::string auth;
};

TEST_F(ClientTest, HeartbeatVersionAndJson) {
  Client c = client();
  EXPECT_NO_THROW(c.heartbeat());
  std::string ours;
  EXPECT_EQ(c.version(&ours), "0.12.6");
  EXPECT_EQ(ours, "9.9.9");
  EXPECT_EQ(c.request("GET", "/api/tags").dump(), R"({"models":[]})");
}

TEST_F(ClientTest, PlainErrorIsTheServerMessage) {
  Client c = client("secret");
  const Json body = {{"model", "nope"}};
  try {
    c.request("POST", "/api/show", &body);
    FAIL();
  } catch (const StatusError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_STREQ(e.what(), "model 'nope:latest' not found");
  }
  EXPECT_EQ(auth, "Bearer secret");
}

TEST_F(ClientTest, StreamDeliversLines) {
  Client c = client();
  std::vector<std::string> got;
  Json last;
  EXPECT_TRUE(c.stream("/api/generate", Json{{"model", "m"}}, [&](const Json& j) {
    got.push_back(j.value("response", ""));
    last = j;
    return true;
  }));
  EXPECT_EQ(got, std::vector<std::string>({"t0", "t1", "t2", ""}));
  EXPECT_EQ(last.value("eval_count", 0), 3);
}

TEST_F(ClientTest, StreamErrors) {
  Client c = client();
  try {
    c.stream("/api/generate", Json{{"model", "missing"}}, [](const Json&) { return true; });
    FAIL();
  } catch (const StatusError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_STREQ(e.what(), "404 Not Found: model 'missing' not found");
  }
  std::string seen;
  try {
    c.stream("/api/generate", Json{{"model", "midway"}}, [&](const Json& j) {
      seen += j.value("response", "");
      return true;
    });
    FAIL();
  } catch (const CliError& e) {
    EXPECT_STREQ(e.what(), "runner crashed");
  }
  EXPECT_EQ(seen, "a");
}

TEST_F(ClientTest, StreamCancel) {
  Client c = client();
  int n = 0;
  EXPECT_FALSE(c.stream("/api/slow", Json::object(), [&](const Json&) { return ++n < 3; }));
  EXPECT_EQ(n, 3);
  std::atomic<bool> cancel{false};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  EXPECT_FALSE(c.stream("/api/slow", Json::object(), [](const Json&) { return true; }, &cancel));
  t.join();
}

// A loopback port nothing listens on (bound for a moment, then closed).
int closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

TEST(ClientNotRunning, Message) {
  Client c("http", "127.0.0.1", closed_port(), "", "");
  try {
    c.heartbeat();
    FAIL();
  } catch (const CliError& e) {
    EXPECT_STREQ(e.what(), "could not connect to ollmlx server, run 'ollmlx serve' to start it");
  }
}

TEST(ClientEnv, HostFromEnvironment) {
  setenv("OLLMLX_HOST", "", 1);
  setenv("OLLAMA_HOST", "0.0.0.0:12345", 1);
  EXPECT_EQ(Client::from_env().base_url(), "http://127.0.0.1:12345");
  setenv("OLLMLX_HOST", "https://example.com/prefix/", 1);
  EXPECT_EQ(Client::from_env().base_url(), "https://example.com:443/prefix");
  setenv("OLLMLX_HOST", "[::1]:9999", 1);
  EXPECT_EQ(Client::from_env().base_url(), "http://[::1]:9999");
  unsetenv("OLLMLX_HOST");
  unsetenv("OLLAMA_HOST");
  EXPECT_EQ(Client::from_env().base_url(), "http://127.0.0.1:11434");
}

}  // namespace
}  // namespace ollmlx::cli
