// Uploaded blobs (blob_store.h).
#include "store/import/blob_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/files.h"
#include "store/sha256.h"
#include "store/store_error.h"

namespace ollmlx::store {

BlobStore::BlobStore(std::filesystem::path models_dir) : dir_(std::move(models_dir) / "blobs") {}

std::optional<std::string> BlobStore::parse_digest(std::string_view digest) {
  if (digest.size() != 71 || digest.substr(0, 6) != "sha256" || (digest[6] != ':' && digest[6] != '-'))
    return std::nullopt;
  std::string hex(digest.substr(7));
  for (char& c : hex) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return hex;
}

std::filesystem::path BlobStore::path(const std::string& hex) const { return dir_ / ("sha256-" + hex); }

std::optional<std::filesystem::path> BlobStore::find(std::string_view digest) const {
  const auto hex = parse_digest(digest);
  if (!hex) throw StoreError(StoreErrorKind::InvalidName, "invalid digest format");
  std::error_code ec;
  const std::filesystem::path p = path(*hex);
  if (std::filesystem::is_regular_file(p, ec)) return p;
  return std::nullopt;
}

bool BlobStore::put(std::string_view digest, const BodyReader& read) {
  const auto hex = parse_digest(digest);
  if (!hex) throw StoreError(StoreErrorKind::InvalidName, "invalid digest format");
  if (find(digest)) return false;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw_store(StoreErrorKind::Io, "{}: cannot create directory: {}", dir_.string(), ec.message());
  const std::filesystem::path tmp = dir_ / ("sha256-" + *hex + "-partial-" + random_hex(8));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw_store(StoreErrorKind::Io, "{}: cannot create: {}", tmp.string(), std::strerror(errno));
  Hasher hasher(Hasher::Algo::Sha256);
  int err = 0;
  const bool complete = read([&](const char* data, size_t size) {
    hasher.update(data, size);
    while (size > 0) {
      const ssize_t w = ::write(fd, data, size);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err = w < 0 ? errno : EIO;
        return false;
      }
      data += w;
      size -= static_cast<size_t>(w);
    }
    return true;
  });
  if (err == 0 && complete && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  auto discard = [&] {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
  };
  if (err != 0) {
    discard();
    throw_store(err == ENOSPC ? StoreErrorKind::NoSpace : StoreErrorKind::Io, "{}: cannot write: {}",
                tmp.string(), std::strerror(err));
  }
  if (!complete) {
    discard();
    throw StoreError(StoreErrorKind::Canceled, "blob upload canceled: the body was not received completely");
  }
  const std::string got = hasher.hex_digest();
  if (got != *hex) {
    discard();
    throw_store(StoreErrorKind::DigestMismatch, "digest mismatch, expected \"{}\", got \"sha256:{}\"", digest, got);
  }
  std::filesystem::rename(tmp, path(*hex), ec);
  if (ec) {
    discard();
    throw_store(StoreErrorKind::Io, "{}: cannot rename into place: {}", path(*hex).string(), ec.message());
  }
  return true;
}

}  // namespace ollmlx::store
