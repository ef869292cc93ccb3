// A local stand-in for the Hugging Face Hub, served by cpp-httplib on a loopback port: the
// revision and tree APIs (with Link pagination), /resolve/ downloads (LFS files redirected to a
// "CDN" on another host name, like the real hub), Range requests, gated repos, X-Error-Code
// headers, and fault injection (dropped connections, corrupted bytes, error statuses, slow or
// blocked transfers). It records every request for the tests to inspect.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store_test_util.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace ollmlx::store::testing {

struct FakeRepo {
  std::string id;                                      // canonical "org/name"
  std::map<std::string, std::string> refs;             // "main" -> commit
  std::map<std::string, std::vector<RepoFile>> trees;  // commit -> files
  std::string token;  // non-empty: gated, only "Bearer <token>" may read it
};

struct RequestLog {
  std::string path;   // decoded path
  std::string range;  // Range header
  std::string auth;   // Authorization header
  std::string host;   // Host header
};

class FakeHub {
 public:
  FakeHub();
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const;  // http://127.0.0.1:<port>
  int port() const { return port_; }
  void add_repo(const FakeRepo& repo);

  // The next `times` downloads of a file with this path send `bytes` bytes (counted from the
  // start of the file) and then close the connection.
  void drop_after(const std::string& file, size_t bytes, int times = 1);
  // The next `times` downloads of the file flip one byte.
  void corrupt(const std::string& file, int times = 1);
  // The next `times` requests whose path contains `fragment` answer `status` (with
  // `retry_after` seconds when >= 0).
  void fail(const std::string& fragment, int status, int times = 1, int retry_after = -1);
  void set_page_size(size_t n);                // tree entries per page (0 = all)
  void set_chunk(size_t bytes, int delay_ms);  // body chunk size and delay per chunk
  void block_downloads(bool blocked);          // hold every body before its first byte

  std::vector<RequestLog> requests() const;
  // Body requests of one file (resolve or CDN), with their Range headers.
  std::vector<RequestLog> downloads(const std::string& file) const;
  size_t count(const std::string& fragment) const;  // requests whose path contains it

 private:
  void serve_file(const RepoFile& f, httplib::Response& res);
  void on_revision(const httplib::Request& req, httplib::Response& res);
  void on_tree(const httplib::Request& req, httplib::Response& res);
  void on_resolve(const httplib::Request& req, httplib::Response& res);
  void on_cdn(const httplib::Request& req, httplib::Response& res);
  // The repo (case-insensitive id) if it exists and the request may read it; otherwise the
  // error answer is already in `res`.
  const FakeRepo* readable_repo(const httplib::Request& req, httplib::Response& res);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<FakeRepo> repos_;
  std::vector<RequestLog> log_;
  std::map<std::string, std::pair<size_t, int>> drops_;
  std::map<std::string, int> corrupts_;
  struct Failure {
    std::string fragment;
    int status, times, retry_after;
  };
  std::vector<Failure> failures_;
  size_t page_size_ = 0;
  size_t chunk_ = 16384;
  int delay_ms_ = 0;
  bool blocked_ = false;
  bool stopping_ = false;
};

}  // namespace ollmlx::store::testing
