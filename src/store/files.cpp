// Filesystem helpers: atomic replace, bounded reads, statvfs, flock, home directory.
#include "store/files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "store/store_error.h"

namespace ollmlx::store {

void write_file_atomic(const fs::path& path, std::string_view data) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    throw_store(StoreErrorKind::Io, "{}: cannot create directory: {}", path.parent_path().string(),
                ec.message());
  const fs::path tmp = path.string() + "." + random_hex(8) + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw_store(StoreErrorKind::Io, "{}: cannot create: {}", tmp.string(), std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  int err = 0;
  while (err == 0 && left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
    } else {
      p += w;
      left -= static_cast<size_t>(w);
    }
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;  // no empty file behind the rename on a crash
  ::close(fd);
  const bool ok = err == 0;
  if (!ok) {
    fs::remove(tmp, ec);
    throw_store(StoreErrorKind::Io, "{}: cannot write: {}", tmp.string(), std::strerror(err));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw_store(StoreErrorKind::Io, "{}: cannot rename into place: {}", path.string(),
                ec.message());
  }
}

std::string read_file(const fs::path& path, uint64_t max_bytes) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw_store(StoreErrorKind::Io, "{}: cannot read: {}", path.string(), ec.message());
  if (size > max_bytes)
    throw_store(StoreErrorKind::Io, "{}: {} bytes is too large", path.string(), size);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw_store(StoreErrorKind::Io, "{}: cannot read", path.string());
  return text.str();
}

uint64_t free_disk_space(const fs::path& path) {
  fs::path p = path;
  std::error_code ec;
  while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
  struct statvfs st {};
  if (p.empty() || statvfs(p.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

std::string random_hex(size_t chars) {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&chars)));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(chars, '0');
  for (char& c : out) c = kHex[rng() & 15];
  return out;
}

std::chrono::system_clock::time_point file_mtime(const fs::path& path) {
  std::error_code ec;
  const auto ft = fs::last_write_time(path, ec);
  if (ec) return {};
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      std::chrono::file_clock::to_sys(ft));
}

fs::path home_dir() {
  if (std::string h = env("HOME"); !h.empty()) return h;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool canceled(const std::atomic<bool>* cancel) { return cancel && cancel->load(); }

FileLock::FileLock(const fs::path& path, const std::atomic<bool>* cancel,
                   const std::function<void()>& on_wait) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
  if (fd_ < 0)
    throw_store(StoreErrorKind::Io, "{}: cannot open lock file: {}", path.string(),
                std::strerror(errno));
  while (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const int err = errno;
      ::close(fd_);
      throw_store(StoreErrorKind::Io, "{}: cannot lock: {}", path.string(), std::strerror(err));
    }
    if (canceled(cancel)) {
      ::close(fd_);
      throw_store(StoreErrorKind::Canceled, "pull canceled");
    }
    try {
      if (on_wait) on_wait();
    } catch (...) {
      ::close(fd_);
      throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace ollmlx::store
