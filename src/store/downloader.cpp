// Resumable, verified, lock-protected blob downloads and the worker pool that runs them (see
// downloader.h for the guarantees).
#include "store/downloader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "store/files.h"
#include "store/sha256.h"
#include "store/store_error.h"
#include "util/log.h"

namespace ollmlx::store {
namespace {

Hasher fresh_hasher(const TreeEntry& e) {
  return e.is_lfs() ? Hasher(Hasher::Algo::Sha256)
                    : Hasher::git_blob(static_cast<uint64_t>(e.size));
}

std::string digest_label(const TreeEntry& e, const std::string& hex) {
  return (e.is_lfs() ? "sha256:" : "sha1:") + hex;
}

int64_t file_size_or(const fs::path& p, int64_t fallback) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? fallback : static_cast<int64_t>(n);
}

// "bytes 100-199/200" -> 100; -1 if unparsable.
int64_t content_range_start(const std::string& v) {
  const size_t sp = v.find(' ');
  if (sp == std::string::npos) return -1;
  const size_t dash = v.find('-', sp);
  if (dash == std::string::npos) return -1;
  try {
    return std::stoll(v.substr(sp + 1, dash - sp - 1));
  } catch (...) {
    return -1;
  }
}

class PartFile {
 public:
  explicit PartFile(const fs::path& p) : path_(p) {
    fd_ = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw_store(StoreErrorKind::Io, "{}: cannot open: {}", p.string(), std::strerror(errno));
  }
  ~PartFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;
  bool truncate() { return ::ftruncate(fd_, 0) == 0; }
  bool write(const char* data, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        error_ = std::strerror(errno);
        return false;
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  fs::path path_;
  int fd_ = -1;
  std::string error_;
};

}  // namespace

void fetch_blob(const FetchContext& ctx, const TreeEntry& e, HttpClient& http,
                std::atomic<int64_t>& completed, const std::atomic<bool>* stop) {
  const fs::path blob = ctx.cache.blob_path(ctx.repo, e.blob_id());
  const fs::path part = ctx.cache.incomplete_path(ctx.repo, e.blob_id());
  if (file_size_or(blob, -1) == e.size) {
    completed = e.size;
    return;
  }
  std::error_code ec;
  fs::create_directories(blob.parent_path(), ec);
  // Another pull may be writing this blob: wait for it, showing its progress as ours.
  FileLock lock(ctx.cache.lock_path(ctx.repo, e.blob_id()), stop,
                [&] { completed = std::max<int64_t>(0, file_size_or(part, 0)); });
  if (file_size_or(blob, -1) == e.size) {
    completed = e.size;
    return;
  }

  int64_t have = file_size_or(part, 0);
  Hasher hash = fresh_hasher(e);
  if (have > e.size) {
    fs::remove(part, ec);
    have = 0;
  } else if (have > 0) {
    hash.update_file(part, static_cast<uint64_t>(have));
    log::info("{}: resuming {} at {} of {} bytes", ctx.repo, e.path, have, e.size);
  }
  completed = have;

  int failures = 0, mismatches = 0;
  for (;;) {
    if (canceled(stop)) throw_store(StoreErrorKind::Canceled, "pull canceled");
    if (have == e.size) {
      if (e.size == 0) PartFile empty(part);  // nothing to download, but a file to rename
      const std::string got = hash.hex_digest();
      const std::string& want = e.is_lfs() ? e.lfs_sha256 : e.oid;
      if (got == want) {
        fs::rename(part, blob, ec);
        if (ec)
          throw_store(StoreErrorKind::Io, "{}: cannot rename into place: {}", blob.string(),
                      ec.message());
        completed = e.size;
        return;
      }
      fs::remove(part, ec);
      if (++mismatches >= ctx.max_digest_retries)
        throw_store(StoreErrorKind::DigestMismatch,
                    "digest mismatch, file must be downloaded again: want {}, got {}",
                    digest_label(e, want), digest_label(e, got));
      log::warn("{}: {} failed verification (want {}, got {}); downloading it again", ctx.repo,
                e.path, digest_label(e, want), digest_label(e, got));
      hash = fresh_hasher(e);
      have = 0;
      completed = 0;
      continue;
    }

    PartFile out(part);
    const int64_t start = have;
    bool bad_range = false, too_long = false;
    HttpRequest req;
    req.url = ctx.hub.resolve_url(ctx.repo, ctx.commit, e.path);
    req.headers = ctx.hub.auth_headers();
    req.range_from = have > 0 ? have : -1;
    req.connect_timeout_s = ctx.hub.options().connect_timeout_s;
    req.low_speed_time_s = ctx.hub.options().low_speed_time_s;
    HttpSink sink;
    sink.on_start = [&](const HttpResponse& r) {
      if (have > 0 && r.status == 206) {
        if (content_range_start(r.header("content-range")) != have) {
          bad_range = true;
          return false;
        }
      } else if (have > 0) {  // the server ignored Range: start over
        if (!out.truncate()) return false;
        hash = fresh_hasher(e);
        have = 0;
        completed = 0;
      }
      return true;
    };
    sink.on_data = [&](const char* data, size_t n) {
      if (have + static_cast<int64_t>(n) > e.size) {
        too_long = true;
        return false;
      }
      if (!out.write(data, n)) return false;
      hash.update(data, n);
      have += static_cast<int64_t>(n);
      completed = have;
      return true;
    };
    HttpResponse resp = http.get(req, &sink, stop);
    if (resp.canceled || canceled(stop)) throw_store(StoreErrorKind::Canceled, "pull canceled");
    if (resp.aborted_by_sink && !out.error().empty())
      throw_store(StoreErrorKind::Io, "{}: cannot write: {}", part.string(), out.error());
    if (too_long || bad_range || (resp.ok() && have < e.size) ||
        (resp.transport_ok() && resp.status == 416)) {
      // More bytes than the hub listed, a range we did not ask for, a short or refused answer:
      // the partial file cannot be trusted; count it as a failed verification.
      log::warn("{}: {}: unexpected answer (HTTP {}, {} of {} bytes); starting it over", ctx.repo,
                e.path, resp.status, have, e.size);
      out.truncate();
      fs::remove(part, ec);
      if (++mismatches >= ctx.max_digest_retries)
        throw_store(StoreErrorKind::DigestMismatch,
                    "digest mismatch, file must be downloaded again: {} ({} of {} bytes)", e.path,
                    have, e.size);
      hash = fresh_hasher(e);
      have = 0;
      completed = 0;
      continue;
    }
    if (resp.ok()) continue;         // complete: verified at the top of the loop
    if (have > start) failures = 0;  // progress was made: the connection broke, not the hub
    if (!HubClient::retryable(resp) || ++failures >= ctx.hub.options().retry.max_attempts)
      ctx.hub.fail(resp, ctx.repo, e.path);
    const auto wait = ctx.hub.backoff(failures, resp);
    log::info("{}: {} interrupted at {} of {} bytes ({}); resuming in {} ms", ctx.repo, e.path,
              have, e.size,
              resp.transport_ok() ? "HTTP " + std::to_string(resp.status) : resp.curl_error,
              wait.count());
    ctx.hub.sleep(wait, stop);
  }
}

void fetch_all(const FetchContext& ctx, const std::vector<TreeEntry>& entries, int parallel,
               std::chrono::milliseconds interval, const std::atomic<bool>* cancel,
               const std::function<void(size_t, int64_t, bool)>& report) {
  const size_t n = entries.size();
  if (n == 0) return;
  std::vector<std::atomic<int64_t>> completed(n);
  std::vector<std::atomic<bool>> done(n);
  for (size_t i = 0; i < n; ++i) {
    completed[i] = 0;
    done[i] = false;
  }
  std::atomic<bool> stop{false};
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable cv;
  std::exception_ptr error;
  size_t finished = 0;

  auto worker = [&] {
    HttpClient http;
    for (;;) {
      const size_t i = next++;
      if (i >= n || stop) return;
      try {
        fetch_blob(ctx, entries[i], http, completed[i], &stop);
        done[i] = true;
      } catch (...) {
        std::lock_guard<std::mutex> g(mu);
        if (!error) error = std::current_exception();
        stop = true;
      }
      std::lock_guard<std::mutex> g(mu);
      ++finished;
      cv.notify_all();
    }
  };
  const size_t threads = std::min<size_t>(n, static_cast<size_t>(std::max(1, parallel)));
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);

  std::vector<int64_t> reported(n, 0);  // the caller has announced every file at 0 or done
  std::vector<bool> reported_done(n, false);
  auto report_pass = [&] {
    for (size_t i = 0; i < n; ++i) {
      if (reported_done[i]) continue;
      if (done[i]) {
        report(i, entries[i].size, true);
        reported_done[i] = true;
      } else if (const int64_t c = completed[i]; c != reported[i]) {
        report(i, c, false);
        reported[i] = c;
      }
    }
  };
  std::exception_ptr report_error;
  for (;;) {
    bool all_finished;
    {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait_for(lk, interval, [&] { return finished == n || stop.load(); });
      all_finished = finished == n;
    }
    if (canceled(cancel)) stop = true;
    if (stop || all_finished) break;
    try {
      report_pass();
    } catch (...) {
      report_error = std::current_exception();
      stop = true;
      break;
    }
  }
  // Transfers notice `stop` within a poll interval (curl progress callback, lock and sleep polls).
  for (std::thread& t : pool) t.join();
  if (report_error) std::rethrow_exception(report_error);
  if (error) std::rethrow_exception(error);
  if (stop) throw_store(StoreErrorKind::Canceled, "pull canceled");
  report_pass();
}

}  // namespace ollmlx::store
