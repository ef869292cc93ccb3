// libcurl plumbing for the hub client and the downloader (see http.h).
#include "store/http.h"

#include <curl/curl.h>

#include <cstdlib>
#include <mutex>

#include "store/files.h"
#include "store/store_error.h"
#include "util/version.h"

namespace ollmlx::store {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

struct Transfer {
  HttpResponse resp;
  HttpSink* sink = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  bool started = false;
};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_2xx(long status) { return status >= 200 && status < 300; }

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100-continue)
    t->resp.headers.clear();
    t->resp.body.clear();
    const size_t sp = line.find(' ');
    t->resp.status =
        sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name;
  for (char c : line.substr(0, colon)) name += lower(c);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  t->resp.headers[name] = std::string(value);
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!is_2xx(t->resp.status) || !t->sink) {
    const size_t cap = t->sink ? kMaxErrorBody : SIZE_MAX;
    if (t->resp.body.size() < cap)
      t->resp.body.append(data, std::min(bytes, cap - t->resp.body.size()));
    return bytes;
  }
  if (!t->started) {
    t->started = true;
    if (t->sink->on_start && !t->sink->on_start(t->resp)) {
      t->resp.aborted_by_sink = true;
      return 0;
    }
  }
  if (t->sink->on_data && !t->sink->on_data(data, bytes)) {
    t->resp.aborted_by_sink = true;
    return 0;
  }
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (canceled(t->cancel)) {
    t->resp.canceled = true;
    return 1;
  }
  return 0;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string HttpResponse::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

HttpClient::HttpClient() {
  global_init();
  curl_ = curl_easy_init();
  if (!curl_) throw_store(StoreErrorKind::Network, "cannot initialise libcurl");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpClient::get(const HttpRequest& req, HttpSink* sink,
                             const std::atomic<bool>* cancel) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache
  Transfer t;
  t.sink = sink;
  t.cancel = cancel;
  char errbuf[CURL_ERROR_SIZE] = {0};
  const std::string agent = std::string("ollmlx/") + kVersion;
  curl_slist* headers = nullptr;
  for (const std::string& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  const std::string range = req.range_from >= 0 ? std::to_string(req.range_from) + "-" : "";

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req.low_speed_time_s);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (!range.empty())
    curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  else
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip etc., decoded by libcurl

  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  t.resp.curl_code = static_cast<int>(rc);
  if (rc != CURLE_OK) t.resp.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  long status = 0;
  if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status != 0)
    t.resp.status = status;
  char* url = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url)
    t.resp.effective_url = url;
  if (rc == CURLE_OK && sink && is_2xx(t.resp.status) && !t.started) {
    t.started = true;
    if (sink->on_start && !sink->on_start(t.resp)) t.resp.aborted_by_sink = true;
  }
  return std::move(t.resp);
}

std::string url_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '.' || c == '-' || c == '~' || (keep_slash && c == '/');
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace ollmlx::store
