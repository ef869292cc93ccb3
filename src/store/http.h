// A thin libcurl wrapper: one GET (or HEAD) with redirects followed, headers of the final
// response, the body streamed to a sink or kept in memory, cancellation, and transport errors
// reported rather than thrown so callers can decide what to retry. Proxies come from the usual
// environment variables, as libcurl reads them (http_proxy, HTTPS_PROXY, ALL_PROXY, NO_PROXY).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::store {

struct HttpResponse {
  long status = 0;                             // final HTTP status; 0 if none arrived
  int curl_code = 0;                           // 0 (CURLE_OK) when the transfer completed
  std::string curl_error;                      // libcurl's message when curl_code != 0
  std::map<std::string, std::string> headers;  // final response, lower-case names
  std::string body;  // in-memory body, or the (capped) body of a non-2xx answer
  std::string effective_url;
  bool aborted_by_sink = false;
  bool canceled = false;

  bool transport_ok() const { return curl_code == 0; }
  bool ok() const { return curl_code == 0 && status >= 200 && status < 300; }
  std::string header(std::string_view lower_name) const;
};

// Streams a 2xx body. on_start runs once before the first byte (or at the end for an empty
// body) with the status and headers; returning false from either aborts the transfer.
struct HttpSink {
  std::function<bool(const HttpResponse&)> on_start;
  std::function<bool(const char*, size_t)> on_data;
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  int64_t range_from = -1;           // >= 0: "Range: bytes=<n>-" (and no compression)
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;  // abort when under 1 byte/s for this long
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Never throws for network or HTTP errors (they are in the response).
  HttpResponse get(const HttpRequest& req, HttpSink* sink, const std::atomic<bool>* cancel);

 private:
  void* curl_;
};

// Percent-encoding as huggingface_hub does: `keep_slash` keeps '/' (file paths), otherwise
// everything outside [A-Za-z0-9_.~-] is encoded (revisions: "refs/pr/1" -> "refs%2Fpr%2F1").
std::string url_encode(std::string_view s, bool keep_slash);

}  // namespace ollmlx::store
