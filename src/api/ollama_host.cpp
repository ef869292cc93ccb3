// OLLAMA_HOST parsing as Ollama's envconfig.Host does; shared by the server (where to listen) and
// the CLI (where to connect).
#include "api/ollama_host.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>

namespace ollmlx::api {
namespace {

std::string_view trim(std::string_view s, std::string_view chars) {
  const auto b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(chars) - b + 1);
}

// Go's net.SplitHostPort.
bool split_host_port(std::string_view hp, std::string& host, std::string& port) {
  const auto i = hp.rfind(':');
  if (i == std::string_view::npos) return false;
  size_t j = 0, k = 0;
  if (!hp.empty() && hp[0] == '[') {
    const auto end = hp.find(']');
    if (end == std::string_view::npos || end + 1 == hp.size() || end + 1 != i) return false;
    host = std::string(hp.substr(1, end - 1));
    j = 1;
    k = end + 1;
  } else {
    host = std::string(hp.substr(0, i));
    if (host.find(':') != std::string::npos) return false;
  }
  if (hp.substr(j).find('[') != std::string_view::npos) return false;
  if (hp.substr(k).find(']') != std::string_view::npos) return false;
  port = std::string(hp.substr(i + 1));
  return true;
}

// Go's net.ParseIP(...).String() for a literal, or "" if it is not an IP address.
std::string canonical_ip(const std::string& s) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return inet_ntop(AF_INET, buf, out, sizeof out) ? out : "";
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::equal(mapped, mapped + 12, buf)) {
      return inet_ntop(AF_INET, buf + 12, out, sizeof out) ? out : "";
    }
    return inet_ntop(AF_INET6, buf, out, sizeof out) ? out : "";
  }
  return "";
}

// Go's strconv.ParseInt(s, 10, 32) accepted and within 0..65535.
bool parse_port(const std::string& s, int& port) {
  std::string_view v = s;
  bool neg = false;
  if (!v.empty() && (v[0] == '+' || v[0] == '-')) {
    neg = v[0] == '-';
    v.remove_prefix(1);
  }
  if (v.empty() || v.size() > 10) return false;
  long long n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  if (neg) n = -n;
  if (n < 0 || n > 65535) return false;
  port = static_cast<int>(n);
  return true;
}

}  // namespace

std::string env_value(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return "";
  return std::string(trim(trim(v, " \t\r\n\v\f"), "\"'"));
}

HostPort parse_ollama_host(std::string_view value) {
  const std::string s(trim(value, " \t\r\n\v\f"));
  HostPort hp;
  int default_port = 11434;
  std::string hostport;
  const auto sep = s.find("://");
  if (sep == std::string::npos) {
    hp.scheme = "http";
    hostport = s;
    if (s == "ollama.com") {
      hp.scheme = "https";
      hostport = "ollama.com:443";
    }
  } else {
    hp.scheme = s.substr(0, sep);
    hostport = s.substr(sep + 3);
    if (hp.scheme == "http") default_port = 80;
    else if (hp.scheme == "https") default_port = 443;
  }
  if (const auto slash = hostport.find('/'); slash != std::string::npos) {
    hp.path = hostport.substr(slash + 1);
    hostport.resize(slash);
  }
  std::string host, port;
  if (!split_host_port(hostport, host, port)) {
    host = "127.0.0.1";
    port = std::to_string(default_port);
    const std::string ip = canonical_ip(std::string(trim(hostport, "[]")));
    if (!ip.empty()) host = ip;
    else if (!hostport.empty()) host = hostport;
  }
  hp.host = host;
  if (!parse_port(port, hp.port)) hp.port = default_port;
  return hp;
}

}  // namespace ollmlx::api
