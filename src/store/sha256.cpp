// OpenSSL EVP wrappers for the hashes the store verifies downloads and names manifests with.
#include "store/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "store/store_error.h"

namespace ollmlx::store {

struct Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(Algo algo) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  const EVP_MD* md = algo == Algo::Sha256 ? EVP_sha256() : EVP_sha1();
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, md, nullptr) != 1)
    throw_store(StoreErrorKind::Io, "cannot initialise the {} hash",
                algo == Algo::Sha256 ? "sha256" : "sha1");
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

Hasher Hasher::git_blob(uint64_t size) {
  Hasher h(Algo::Sha1);
  const std::string header = "blob " + std::to_string(size);
  h.update(header.c_str(), header.size() + 1);  // with the terminating NUL, as git hashes it
  return h;
}

void Hasher::update(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(impl_->ctx, data, size);
}

void Hasher::update_file(const std::filesystem::path& path, uint64_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_store(StoreErrorKind::Io, "{}: cannot open for reading", path.string());
  std::vector<char> buf(1 << 20);
  while (bytes > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(bytes, buf.size()));
    in.read(buf.data(), static_cast<std::streamsize>(want));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0) throw_store(StoreErrorKind::Io, "{}: shorter than expected", path.string());
    update(buf.data(), got);
    bytes -= got;
  }
}

std::string Hasher::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Hasher h(Hasher::Algo::Sha256);
  h.update(data);
  return h.hex_digest();
}

bool is_hex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace ollmlx::store
