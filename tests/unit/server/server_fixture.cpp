// The HTTP test fixture and body-splitting helpers (see server_fixture.h).
#include "server_fixture.h"

namespace ollmlx::server::testing {

void ServerTest::start(ServerConfig config) {
  config.host = "127.0.0.1";
  config.port = 0;
  server = std::make_unique<HttpServer>(fake, config);
  port = server->bind();
  thread = std::thread([this] { server->listen(); });
}

void ServerTest::stop() {
  if (!server) return;
  server->stop();
  if (thread.joinable()) thread.join();
  server.reset();
}

httplib::Client ServerTest::client() const {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  c.set_connection_timeout(5, 0);
  return c;
}

std::vector<std::string> ndjson_lines(const std::string& body) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < body.size()) {
    const auto nl = body.find('\n', start);
    if (nl == std::string::npos) {
      ADD_FAILURE() << "NDJSON body does not end with a newline: " << body;
      lines.push_back(body.substr(start));
      break;
    }
    lines.push_back(body.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t start = 0;
  while (start < body.size()) {
    const auto end = body.find("\n\n", start);
    if (end == std::string::npos) {
      ADD_FAILURE() << "SSE body not framed by blank lines: " << body;
      break;
    }
    const std::string ev = body.substr(start, end - start);
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    events.push_back(ev.substr(6));
    start = end + 2;
  }
  return events;
}

}  // namespace ollmlx::server::testing
