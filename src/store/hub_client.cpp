// Hub API calls, retry/backoff and error mapping (see hub_client.h and
// shared/reference/huggingface-hub.md §1, §2.3, §5).
#include "store/hub_client.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "store/files.h"
#include "store/hf_cache.h"
#include "store/names.h"
#include "store/sha256.h"
#include "store/store_error.h"
#include "util/log.h"

namespace ollmlx::store {
namespace {

using nlohmann::json;

constexpr int kMaxTreePages = 10000;

// The hub's error text: {"error": "..."} (or a list), else a short plain body.
std::string hub_message(const HttpResponse& resp) {
  if (std::string m = resp.header("x-error-message"); !m.empty()) return m;
  try {
    json j = json::parse(resp.body);
    if (j.is_object() && j.contains("error")) {
      if (j["error"].is_string()) return j["error"].get<std::string>();
      if (j["error"].is_array() && !j["error"].empty() && j["error"][0].is_string())
        return j["error"][0].get<std::string>();
    }
  } catch (const json::exception&) {
  }
  if (resp.body.size() < 200 && resp.body.find('<') == std::string::npos) return resp.body;
  return "";
}

// Link: <https://host/api/...&cursor=x>; rel="next"
std::string next_link(const std::string& link) {
  size_t pos = 0;
  while (pos < link.size()) {
    const size_t open = link.find('<', pos);
    if (open == std::string::npos) return "";
    const size_t close = link.find('>', open);
    if (close == std::string::npos) return "";
    size_t end = link.find(',', close);
    if (end == std::string::npos) end = link.size();
    const std::string params = link.substr(close + 1, end - close - 1);
    if (params.find("rel=\"next\"") != std::string::npos ||
        params.find("rel=next") != std::string::npos)
      return link.substr(open + 1, close - open - 1);
    pos = end + 1;
  }
  return "";
}

long parse_long(const std::string& s, long fallback) {
  if (s.empty() || s.size() > 9) return fallback;
  for (char c : s)
    if (c < '0' || c > '9') return fallback;
  return std::stol(s);
}

}  // namespace

HubClient::HubClient(HubOptions options, const std::atomic<bool>* cancel)
    : options_(std::move(options)), cancel_(cancel) {
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/')
    options_.endpoint.pop_back();
  if (options_.retry.max_attempts < 1) options_.retry.max_attempts = 1;
}

std::vector<std::string> HubClient::auth_headers() const {
  if (options_.token.empty()) return {};
  return {"Authorization: Bearer " + options_.token};
}

std::string HubClient::resolve_url(const std::string& repo, const std::string& commit,
                                   const std::string& path) const {
  return options_.endpoint + "/" + repo + "/resolve/" + url_encode(commit, false) + "/" +
         url_encode(path, true);
}

bool HubClient::retryable(const HttpResponse& resp) {
  if (resp.canceled || resp.aborted_by_sink) return false;
  if (!resp.transport_ok()) return resp.curl_code != 1 && resp.curl_code != 3;  // protocol, URL
  return resp.status == 408 || resp.status == 429 || resp.status == 500 || resp.status == 502 ||
         resp.status == 503 || resp.status == 504;
}

std::chrono::milliseconds HubClient::backoff(int attempt, const HttpResponse& resp) const {
  using std::chrono::milliseconds;
  // RateLimit: "api";r=0;t=172 -> wait t+1 seconds (huggingface_hub does the same on 429).
  if (resp.status == 429) {
    const std::string rl = resp.header("ratelimit");
    const size_t r = rl.find("r=0"), t = rl.find("t=");
    if (r != std::string::npos && t != std::string::npos) {
      size_t end = rl.find(';', t);
      long secs = parse_long(rl.substr(t + 2, end == std::string::npos ? end : end - t - 2), -1);
      if (secs >= 0) return milliseconds((secs + 1) * 1000);
    }
  }
  if (long secs = parse_long(resp.header("retry-after"), -1); secs >= 0)
    return milliseconds((secs + 1) * 1000);
  milliseconds wait = options_.retry.initial_backoff;
  for (int i = 1; i < attempt && wait < options_.retry.max_backoff; ++i) wait *= 2;
  return std::min(wait, options_.retry.max_backoff);
}

void HubClient::sleep(std::chrono::milliseconds d, const std::atomic<bool>* stop) const {
  if (options_.retry.sleep) return options_.retry.sleep(d);
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until && !canceled(cancel_) && !canceled(stop))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void HubClient::fail(const HttpResponse& resp, const std::string& repo,
                     const std::string& what) const {
  const std::string& ep = options_.endpoint;
  if (resp.canceled || canceled(cancel_)) throw_store(StoreErrorKind::Canceled, "pull canceled");
  if (!resp.transport_ok())
    throw_store(StoreErrorKind::Network, "cannot download {} from {}: {}", what, ep,
                resp.curl_error);
  const std::string code = resp.header("x-error-code");
  const std::string msg = hub_message(resp);
  const bool token = !options_.token.empty();
  if (resp.status == 401 || resp.status == 403) {
    if (code == "GatedRepo" && token)
      throw_store(StoreErrorKind::Unauthorized,
                  "{0} is a gated repository and the HF_TOKEN given does not have access to it "
                  "yet: request access at {1}/{0}",
                  repo, ep);
    if (code == "GatedRepo")
      throw_store(StoreErrorKind::Unauthorized,
                  "{0} is a gated repository: request access at {1}/{0}, then set HF_TOKEN to an "
                  "access token of that account",
                  repo, ep);
    if (token && msg.find("Invalid credentials") != std::string::npos)
      throw_store(StoreErrorKind::Unauthorized,
                  "{} rejected HF_TOKEN (invalid credentials): create a new access token at "
                  "{}/settings/tokens",
                  ep, ep);
    if (token)
      throw_store(StoreErrorKind::Unauthorized,
                  "access to {} was denied (HTTP {}): it is private or gated and the HF_TOKEN "
                  "given cannot read it",
                  repo, resp.status);
    throw_store(StoreErrorKind::Unauthorized,
                "{} is private or gated, or does not exist (HTTP {}): if you can see it on {}/{}, "
                "set HF_TOKEN to an access token that can read it",
                repo, resp.status, ep, repo);
  }
  if (resp.status == 404) {
    if (code == "RevisionNotFound")
      throw_store(StoreErrorKind::NotFound,
                  "pull model manifest: file does not exist: revision of {} not found ({})", repo,
                  what);
    if (code == "EntryNotFound")
      throw_store(StoreErrorKind::NotFound,
                  "pull model manifest: file does not exist: {} not found in {}", what, repo);
    throw_store(StoreErrorKind::NotFound,
                "pull model manifest: file does not exist: repository {} not found on {}", repo,
                ep);
  }
  if (resp.status == 429)
    throw_store(StoreErrorKind::Network, "{} is rate limiting requests ({}); retry later{}", ep,
                what, msg.empty() ? "" : ": " + msg);
  throw_store(StoreErrorKind::Network, "{}: {} answered HTTP {}{}", what, ep, resp.status,
              msg.empty() ? "" : ": " + msg);
}

HttpResponse HubClient::get_with_retry(const std::string& url, const std::string& repo,
                                       const std::string& what) {
  HttpRequest req;
  req.url = url;
  req.headers = auth_headers();
  req.headers.push_back("Accept: application/json");
  req.connect_timeout_s = options_.connect_timeout_s;
  req.low_speed_time_s = options_.low_speed_time_s;
  for (int attempt = 1;; ++attempt) {
    if (canceled(cancel_)) throw_store(StoreErrorKind::Canceled, "pull canceled");
    HttpResponse resp = http_.get(req, nullptr, cancel_);
    if (resp.ok()) return resp;
    if (!retryable(resp) || attempt >= options_.retry.max_attempts) fail(resp, repo, what);
    const auto wait = backoff(attempt, resp);
    log::debug("{}: {} (attempt {}), retrying in {} ms", what,
               resp.transport_ok() ? "HTTP " + std::to_string(resp.status) : resp.curl_error,
               attempt, wait.count());
    sleep(wait);
  }
}

RevisionInfo HubClient::revision(const std::string& repo, const std::string& rev) {
  const std::string url =
      options_.endpoint + "/api/models/" + repo + "/revision/" + url_encode(rev, false);
  HttpResponse resp = get_with_retry(url, repo, "revision " + rev);
  RevisionInfo info;
  try {
    json j = json::parse(resp.body);
    if (j.contains("sha") && j["sha"].is_string()) info.sha = j["sha"];
    if (j.contains("id") && j["id"].is_string()) info.id = j["id"];
  } catch (const json::exception& e) {
    throw_store(StoreErrorKind::Network, "{}: invalid JSON for revision {} of {}: {}",
                options_.endpoint, rev, repo, e.what());
  }
  if (!is_commit_hash(info.sha))
    throw_store(StoreErrorKind::Network, "{}: revision {} of {} has no valid commit hash",
                options_.endpoint, rev, repo);
  if (!is_valid_repo_id(info.id) || !iequals(info.id, repo)) info.id = repo;
  return info;
}

std::vector<TreeEntry> HubClient::tree(const std::string& repo, const std::string& commit) {
  std::vector<TreeEntry> out;
  std::string url = options_.endpoint + "/api/models/" + repo + "/tree/" + commit +
                    "?recursive=true&expand=false";
  for (int page = 0; !url.empty(); ++page) {
    if (page >= kMaxTreePages)
      throw_store(StoreErrorKind::Network, "{}: file list of {} has too many pages",
                  options_.endpoint, repo);
    HttpResponse resp = get_with_retry(url, repo, "file list");
    json j;
    try {
      j = json::parse(resp.body);
    } catch (const json::exception& e) {
      throw_store(StoreErrorKind::Network, "{}: invalid JSON in the file list of {}: {}",
                  options_.endpoint, repo, e.what());
    }
    if (!j.is_array())
      throw_store(StoreErrorKind::Network, "{}: the file list of {} is not an array",
                  options_.endpoint, repo);
    for (const json& e : j) {
      if (!e.is_object() || e.value("type", std::string()) != "file") continue;
      TreeEntry t;
      t.path = e.value("path", std::string());
      t.oid = e.value("oid", std::string());
      if (e.contains("size") && e["size"].is_number_integer()) t.size = e["size"].get<int64_t>();
      if (e.contains("lfs") && e["lfs"].is_object()) {
        t.lfs_sha256 = e["lfs"].value("oid", std::string());
        if (e["lfs"].contains("size") && e["lfs"]["size"].is_number_integer())
          t.size = e["lfs"]["size"].get<int64_t>();
      }
      if (!is_safe_repo_path(t.path) || !is_hex(t.oid, 40) || t.size < 0 ||
          (e.contains("lfs") && !is_hex(t.lfs_sha256, 64)))
        throw_store(StoreErrorKind::Network, "{}: invalid entry '{}' in the file list of {}",
                    options_.endpoint, t.path, repo);
      out.push_back(std::move(t));
    }
    // Follow the next page only on the same hub (the token must not leak elsewhere).
    url = next_link(resp.header("link"));
    if (!url.empty() && url.front() == '/') {
      const size_t scheme = options_.endpoint.find("://");
      const size_t path = options_.endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
      url = options_.endpoint.substr(0, path) + url;
    }
    if (!url.empty() && url.rfind(options_.endpoint + "/", 0) != 0)
      throw_store(StoreErrorKind::Network, "{}: the file list of {} continues on another host ({})",
                  options_.endpoint, repo, url);
  }
  return out;
}

}  // namespace ollmlx::store
