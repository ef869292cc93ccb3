// OLLAMA_HOST / OLLMLX_HOST as Ollama's envconfig reads them, for the server (bind address) and the
// CLI (server address): [scheme://]host[:port][/path]; default 127.0.0.1:11434; http:// implies
// port 80, https:// 443; an invalid port falls back to the default.
#pragma once

#include <string>
#include <string_view>

namespace ollmlx::api {

struct HostPort {
  std::string scheme, host;
  int port = 11434;
  std::string path;
};
HostPort parse_ollama_host(std::string_view value);

// A variable as Ollama's envconfig reads it: trimmed of spaces, then of quotes ("" when unset).
std::string env_value(const char* name);

}  // namespace ollmlx::api
