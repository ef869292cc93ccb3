// A test fixture that runs HttpServer on a free loopback port over a FakeService.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <thread>

#include "fake_service.h"
#include "server/http_server.h"

namespace ollmlx::server::testing {

class ServerTest : public ::testing::Test {
 protected:
  void TearDown() override { stop(); }

  // Starts the server (config.host/port are forced to 127.0.0.1 and a free port).
  void start(ServerConfig config = {});
  void stop();
  httplib::Client client() const;
  httplib::Headers json_headers() const { return {}; }

  FakeService fake;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  int port = 0;
};

// Splits an NDJSON body into lines (without the newlines); checks every line ends with '\n'.
std::vector<std::string> ndjson_lines(const std::string& body);
// The `data: ...` payloads of an SSE body; checks the "\n\n" framing.
std::vector<std::string> sse_events(const std::string& body);

}  // namespace ollmlx::server::testing
