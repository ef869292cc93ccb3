// Finding a request's socket and polling it for a hang-up (see conn_watch.h).
#include "server/conn_watch.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <string_view>

namespace ollmlx::server {
namespace {

bool endpoint(const sockaddr_storage& ss, socklen_t len, std::string& host, int& port) {
  char h[NI_MAXHOST], p[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, h, sizeof h, p, sizeof p,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return false;
  }
  host = h;
  port = std::atoi(p);
  return true;
}

int find_socket(const std::string& remote_addr, int remote_port, int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t llen = sizeof local, plen = sizeof peer;
    const int s = static_cast<int>(fd);
    if (getsockname(s, reinterpret_cast<sockaddr*>(&local), &llen) != 0) continue;
    if (local.ss_family != AF_INET && local.ss_family != AF_INET6) continue;
    if (getpeername(s, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) continue;
    std::string lhost, phost;
    int lport = 0, pport = 0;
    if (!endpoint(local, llen, lhost, lport) || !endpoint(peer, plen, phost, pport)) continue;
    if (lport == local_port && pport == remote_port && phost == remote_addr) {
      found = s;
      break;
    }
  }
  closedir(dir);
  return found;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ConnectionWatch::ConnectionWatch(const std::string& remote_addr, int remote_port, int local_port)
    : fd_(find_socket(remote_addr, remote_port, local_port)) {}

bool ConnectionWatch::gone() {
  if (gone_.load(std::memory_order_relaxed)) return true;
  if (fd_ < 0) return false;
  const int64_t now = now_ns();
  int64_t next = next_poll_ns_.load(std::memory_order_relaxed);
  if (now < next || !next_poll_ns_.compare_exchange_strong(next, now + 20'000'000)) return false;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
    gone_.store(true);
  }
  return gone_.load();
}

}  // namespace ollmlx::server
