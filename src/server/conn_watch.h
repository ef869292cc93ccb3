// Notices a client that went away while nothing is being written to it (a request waiting in
// the engine's queue, a long prefill, a non-streamed generation). httplib 0.11 does not expose a
// request's socket, so the socket is found once by its address pair and then polled for the
// peer's FIN/RST, as Go's server does with its background read.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace ollmlx::server {

class ConnectionWatch {
 public:
  // The request's remote and local addresses as httplib reports them.
  ConnectionWatch(const std::string& remote_addr, int remote_port, int local_port);
  // True once the peer has closed or reset the connection. Thread-safe; the socket is polled at
  // most every 20 ms, in between the last answer is returned.
  bool gone();
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  std::atomic<bool> gone_{false};
  std::atomic<int64_t> next_poll_ns_{0};
};

}  // namespace ollmlx::server
