// Small filesystem helpers the store needs to keep its promises: atomic writes (a reader never
// sees half a manifest or ref), free-space queries, cooperative flock() locks shared with
// huggingface_hub's .locks files, and home/cache directory lookup.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace ollmlx::store {

namespace fs = std::filesystem;

// Writes `data` to `<path>.<random>.tmp` in the same directory, then renames it over `path`
// (parents created). Throws StoreError(Io).
void write_file_atomic(const fs::path& path, std::string_view data);
// Whole file; throws StoreError(Io) if it cannot be read or is larger than `max_bytes`.
std::string read_file(const fs::path& path, uint64_t max_bytes = 64ull << 20);
// Bytes available to an unprivileged user on the filesystem holding `path` (statvfs), or
// UINT64_MAX if unknown. `path` or its nearest existing parent is queried.
uint64_t free_disk_space(const fs::path& path);
std::string random_hex(size_t chars);
// Last modification time, or the epoch if it cannot be read.
std::chrono::system_clock::time_point file_mtime(const fs::path& path);
// $HOME, else the passwd entry's directory.
fs::path home_dir();
// Value of an environment variable; empty and unset are the same (as llama.cpp reads them).
std::string env(const char* name);

// An exclusive flock() on `path` (created 0664, never deleted, as huggingface_hub does). Waits
// while another holder (thread or process) has it, polling every 20 ms: `on_wait` runs on each
// poll, and a set `cancel` throws StoreError(Canceled).
class FileLock {
 public:
  FileLock(const fs::path& path, const std::atomic<bool>* cancel,
           const std::function<void()>& on_wait = {});
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

bool canceled(const std::atomic<bool>* cancel);

}  // namespace ollmlx::store
