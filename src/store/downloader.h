// Downloads the files of one repo commit into the hub cache's blobs/ folder, a few at a time:
// each blob is written under its .locks flock (so concurrent pulls of the same model, in this or
// another process, download it once), into blobs/<id>.incomplete (so an interrupted download
// resumes with a Range request, now or in a later pull), checked against the hub's sha256 (LFS)
// or git sha1 (small files) and only then renamed to blobs/<id>. A corrupted download is
// deleted and fetched again; it never becomes a blob.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "store/hf_cache.h"
#include "store/hub_client.h"

namespace ollmlx::store {

struct FetchContext {
  const HubClient& hub;
  const HubCache& cache;
  std::string repo, commit;
  int max_digest_retries = 3;  // downloads of one file whose bytes failed verification
};

// Makes blobs/<id> hold the verified bytes of `entry` (no-op if it already exists with the right
// size). `completed` tracks the bytes present, including a partial file being resumed or another
// pull's progress while this one waits for the lock. Throws StoreError.
void fetch_blob(const FetchContext& ctx, const TreeEntry& entry, HttpClient& http,
                std::atomic<int64_t>& completed, const std::atomic<bool>* stop);

// Fetches every entry on up to `parallel` threads. `report(index, completed, done)` is called
// on the calling thread only: about every `interval` for files whose byte count changed, and
// once with done=true as each file finishes. Stops all transfers on the first error, when
// `cancel` is set or when `report` throws, and rethrows that error after the threads have ended.
void fetch_all(const FetchContext& ctx, const std::vector<TreeEntry>& entries, int parallel,
               std::chrono::milliseconds interval, const std::atomic<bool>* cancel,
               const std::function<void(size_t, int64_t, bool)>& report);

}  // namespace ollmlx::store
