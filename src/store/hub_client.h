// The Hugging Face Hub's HTTP API as the puller uses it: revision -> commit
// (GET /api/models/{repo}/revision/{rev}), the file list with LFS sha256
// (GET /api/models/{repo}/tree/{commit}?recursive=true, following Link rel="next" pages), the
// download URL (/{repo}/resolve/{commit}/{path}), retries with exponential backoff, and the
// mapping from HTTP failures to StoreErrors with messages that tell the user what to do.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "store/http.h"

namespace ollmlx::store {

struct RetryPolicy {
  int max_attempts = 6;  // tries per request (huggingface_hub: 6)
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{8000};
  // Waits between attempts; unset = really sleep (returning early on cancel). Tests inject a
  // recorder so nothing really sleeps.
  std::function<void(std::chrono::milliseconds)> sleep;
};

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::string token;                                // sent as "Authorization: Bearer <token>"
  RetryPolicy retry;
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;
};

struct RevisionInfo {
  std::string id;   // canonical "org/name" (the hub's spelling)
  std::string sha;  // 40-hex commit
};

struct TreeEntry {
  std::string path;
  int64_t size = 0;
  std::string oid;         // git blob sha1 (40 hex)
  std::string lfs_sha256;  // 64 hex for LFS files, else empty
  bool is_lfs() const { return !lfs_sha256.empty(); }
  // Name of the file in blobs/ (what huggingface_hub calls the etag).
  const std::string& blob_id() const { return is_lfs() ? lfs_sha256 : oid; }
};

class HubClient {
 public:
  HubClient(HubOptions options, const std::atomic<bool>* cancel);

  const HubOptions& options() const { return options_; }
  RevisionInfo revision(const std::string& repo, const std::string& rev);
  std::vector<TreeEntry> tree(const std::string& repo, const std::string& commit);
  std::string resolve_url(const std::string& repo, const std::string& commit,
                          const std::string& path) const;
  std::vector<std::string> auth_headers() const;

  // Whether a failed response is worth another try (transport errors, 408, 429, 5xx).
  static bool retryable(const HttpResponse& resp);
  // Wait before attempt `attempt` + 1 (1-based): Retry-After or the rate-limit reset when the
  // hub gives one, else initial * 2^(attempt-1) capped at max.
  std::chrono::milliseconds backoff(int attempt, const HttpResponse& resp) const;
  // Waits `d` with the injected sleep, or in 20 ms steps that end early when the pull's cancel
  // flag or `stop` is set.
  void sleep(std::chrono::milliseconds d, const std::atomic<bool>* stop = nullptr) const;
  // Throws the StoreError `resp` maps to; `what` names the request ("model.safetensors").
  [[noreturn]] void fail(const HttpResponse& resp, const std::string& repo,
                         const std::string& what) const;

 private:
  // GET with retries; returns the 2xx response (body in memory) or throws via fail().
  HttpResponse get_with_retry(const std::string& url, const std::string& repo,
                              const std::string& what);

  HubOptions options_;
  const std::atomic<bool>* cancel_;
  HttpClient http_;
};

}  // namespace ollmlx::store
