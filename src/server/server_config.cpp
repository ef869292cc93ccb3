// Server settings from the environment, parsed the way Ollama's envconfig parses them so an
// existing OLLAMA_HOST / OLLAMA_ORIGINS setup keeps working unchanged.
#include <algorithm>
#include <cstdlib>

#include "server/http_server.h"

namespace ollmlx::server {
namespace {

bool parse_go_bool(std::string_view s, bool& out) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return out = true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) {
      out = false;
      return true;
    }
  }
  return false;
}

}  // namespace

ServerConfig config_from_env() {
  ServerConfig c;
  std::string host = env_value("OLLMLX_HOST");
  if (host.empty()) host = env_value("OLLAMA_HOST");
  const HostPort hp = parse_ollama_host(host);
  c.host = hp.host;
  c.port = hp.port;
  const std::string origins = env_value("OLLAMA_ORIGINS");
  if (!origins.empty()) {
    size_t start = 0;
    for (;;) {
      const auto comma = origins.find(',', start);
      c.origins.push_back(origins.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  c.api_key = env_value("OLLMLX_API_KEY");
  const std::string debug = env_value("OLLAMA_DEBUG");
  bool b = false;
  if (debug.empty()) {
    c.debug_level = 0;
  } else if (parse_go_bool(debug, b)) {
    c.debug_level = b ? 1 : 0;
  } else {
    char* end = nullptr;
    const long n = std::strtol(debug.c_str(), &end, 10);
    c.debug_level = (end && *end == '\0' && n > 0) ? static_cast<int>(n) : 0;
  }
  return c;
}

}  // namespace ollmlx::server
