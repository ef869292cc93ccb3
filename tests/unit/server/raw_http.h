// A minimal raw HTTP/1.1 client over a socket, for what httplib::Client hides: the exact chunk
// boundaries of a streamed answer and hanging up in the middle of one.
#pragma once

#include <map>
#include <string>

namespace ollmlx::server::testing {

struct RawHead {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string header(const std::string& name) const;
};

class RawHttp {
 public:
  explicit RawHttp(int port);
  ~RawHttp();
  RawHttp(const RawHttp&) = delete;
  RawHttp& operator=(const RawHttp&) = delete;

  void send(const std::string& bytes);
  // Sends a request with Host: 127.0.0.1:<port> and Content-Length (when there is a body).
  void request(const std::string& method, const std::string& path, const std::string& body = "",
               const std::string& extra_headers = "");
  RawHead read_head();
  // One chunk of a chunked body; "" for the final zero-size chunk.
  std::string read_chunk();
  std::string read_exact(size_t n);
  void close();

 private:
  bool fill();
  std::string read_line();
  int fd_ = -1;
  int port_;
  std::string buf_;
};

}  // namespace ollmlx::server::testing
