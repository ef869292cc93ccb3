// Raw socket HTTP client for the streaming tests (see raw_http.h).
#include "raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace ollmlx::server::testing {

std::string RawHead::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

RawHttp::RawHttp(int port) : port_(port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw std::runtime_error("connect failed");
  }
}

RawHttp::~RawHttp() { close(); }

void RawHttp::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawHttp::send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    off += static_cast<size_t>(n);
  }
}

void RawHttp::request(const std::string& method, const std::string& path, const std::string& body,
                      const std::string& extra_headers) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" +
                    std::to_string(port_) + "\r\n" + extra_headers;
  if (!body.empty() || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  send(req);
}

bool RawHttp::fill() {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 10000) <= 0) throw std::runtime_error("read timed out");
  char tmp[4096];
  const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

std::string RawHttp::read_line() {
  for (;;) {
    const auto pos = buf_.find("\r\n");
    if (pos != std::string::npos) {
      std::string line = buf_.substr(0, pos);
      buf_.erase(0, pos + 2);
      return line;
    }
    if (!fill()) throw std::runtime_error("connection closed");
  }
}

std::string RawHttp::read_exact(size_t n) {
  while (buf_.size() < n) {
    if (!fill()) throw std::runtime_error("connection closed");
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

RawHead RawHttp::read_head() {
  RawHead head;
  const std::string status = read_line();  // HTTP/1.1 200 OK
  head.status = std::stoi(status.substr(9, 3));
  for (;;) {
    const std::string line = read_line();
    if (line.empty()) break;
    const auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    head.headers.emplace(name, value);
  }
  return head;
}

std::string RawHttp::read_chunk() {
  const size_t size = std::stoul(read_line(), nullptr, 16);
  std::string data = read_exact(size);
  read_exact(2);  // CRLF
  return data;
}

}  // namespace ollmlx::server::testing
