// Host-header validation against DNS rebinding (see host_check.h), following Ollama's
// allowedHostsMiddleware.
#include "server/host_check.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace ollmlx::server {
namespace {

struct Ip {
  bool v4 = false;
  std::array<unsigned char, 16> b{};  // v4 uses the first 4 bytes
};

bool parse_ip(std::string s, Ip& ip) {
  if (const auto pct = s.find('%'); pct != std::string::npos) s.resize(pct);  // IPv6 zone
  if (inet_pton(AF_INET, s.c_str(), ip.b.data()) == 1) {
    ip.v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.b.data()) != 1) return false;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::equal(mapped, mapped + 12, ip.b.begin())) {  // Go unmaps ::ffff:a.b.c.d
    std::memmove(ip.b.data(), ip.b.data() + 12, 4);
    ip.v4 = true;
  }
  return true;
}

bool is_loopback(const Ip& ip) {
  if (ip.v4) return ip.b[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (ip.b[i] != 0) return false;
  }
  return ip.b[15] == 1;
}

bool is_private(const Ip& ip) {
  if (ip.v4) {
    return ip.b[0] == 10 || (ip.b[0] == 172 && (ip.b[1] & 0xF0) == 16) ||
           (ip.b[0] == 192 && ip.b[1] == 168);
  }
  return (ip.b[0] & 0xFE) == 0xFC;
}

bool is_unspecified(const Ip& ip) {
  const size_t n = ip.v4 ? 4 : 16;
  return std::all_of(ip.b.begin(), ip.b.begin() + static_cast<long>(n),
                     [](unsigned char c) { return c == 0; });
}

bool is_local_interface(const Ip& ip) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* a = list; a && !found; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    if (a->ifa_addr->sa_family == AF_INET && ip.v4) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      found = std::memcmp(&in->sin_addr, ip.b.data(), 4) == 0;
    } else if (a->ifa_addr->sa_family == AF_INET6 && !ip.v4) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      found = std::memcmp(&in6->sin6_addr, ip.b.data(), 16) == 0;
    }
  }
  freeifaddrs(list);
  return found;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

bool allowed_name(std::string_view host) {
  const std::string h = lower(host);
  if (h.empty() || h == "localhost") return true;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && h == lower(name)) return true;
  return ends_with(h, ".localhost") || ends_with(h, ".local") || ends_with(h, ".internal");
}

// Go's net.SplitHostPort, falling back to the whole value; brackets of a bare IPv6 literal are
// dropped (Go would refuse "[::1]" without a port, which is loopback all the same).
std::string host_part(std::string_view hp) {
  const auto colon = hp.rfind(':');
  if (!hp.empty() && hp[0] == '[') {
    const auto end = hp.find(']');
    if (end != std::string_view::npos && (end + 1 == hp.size() || end + 1 == colon)) {
      return std::string(hp.substr(1, end - 1));
    }
    return std::string(hp);
  }
  if (colon == std::string_view::npos) return std::string(hp);
  const std::string_view host = hp.substr(0, colon);
  if (host.find(':') != std::string_view::npos) return std::string(hp);  // bare IPv6
  return std::string(host);
}

}  // namespace

HostVerdict check_host(std::string_view host_header, std::string_view method) {
  const std::string host = host_part(host_header);
  Ip ip;
  if (parse_ip(host, ip)) {
    if (is_loopback(ip) || is_private(ip) || is_unspecified(ip) || is_local_interface(ip)) {
      return HostVerdict::Allow;
    }
  }
  if (allowed_name(host)) {
    return method == "OPTIONS" ? HostVerdict::NoContent : HostVerdict::Allow;
  }
  return HostVerdict::Forbidden;
}

bool is_loopback_bind(const std::string& host) {
  if (lower(host) == "localhost") return true;
  Ip ip;
  return parse_ip(host, ip) && is_loopback(ip);
}

}  // namespace ollmlx::server
