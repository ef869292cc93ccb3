// Streaming hashes through OpenSSL: sha256 for LFS files (the hub's lfs.oid) and model digests
// (sha256 of manifest bytes), and git's blob sha1 for small non-LFS files (the hub's oid is
// sha1("blob <size>\0" + content)), so every downloaded file is verified.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace ollmlx::store {

class Hasher {
 public:
  enum class Algo { Sha256, Sha1 };
  explicit Hasher(Algo algo);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;

  // A sha1 primed with git's blob header for a file of `size` bytes.
  static Hasher git_blob(uint64_t size);

  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Adds the first `bytes` bytes of `path` (resuming a hash over a partial download).
  void update_file(const std::filesystem::path& path, uint64_t bytes);
  std::string hex_digest();  // lowercase hex; the hasher is spent afterwards

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);
bool is_hex(std::string_view s, size_t len);  // exactly `len` lowercase hex digits

}  // namespace ollmlx::store
