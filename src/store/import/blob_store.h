// Blobs uploaded through /api/blobs/:digest (compat spec §1.14), kept as Ollama keeps them:
// $OLLMLX_MODELS/blobs/sha256-<64 hex>, content-addressed. `ollmlx create` (like `ollama create`)
// hashes a local file (a GGUF, or each file of a model directory), uploads it once, then names
// the blobs in /api/create's "files" ({"model.gguf": "sha256:<hex>"}).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ollmlx::store {

// Reads a request body: calls `sink(data, size)` for each chunk, stops when sink returns false;
// returns false if the body could not be read completely (client gone).
using BodySink = std::function<bool(const char* data, size_t size)>;
using BodyReader = std::function<bool(const BodySink& sink)>;

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path models_dir);

  // "sha256:<hex>" or "sha256-<hex>" (64 hex digits, any case) -> lowercase hex; nullopt for
  // anything else (the server answers 400 "invalid digest format").
  static std::optional<std::string> parse_digest(std::string_view digest);

  std::filesystem::path dir() const { return dir_; }
  std::filesystem::path path(const std::string& hex) const;  // blobs/sha256-<hex>
  // The blob's path if it exists. Throws StoreError(InvalidName) for an invalid digest.
  std::optional<std::filesystem::path> find(std::string_view digest) const;

  // Stores the body as the blob `digest`: bytes go to a temporary file while being hashed, and
  // only a body whose sha256 is the digest is renamed into place. Returns true when the blob was
  // written, false when it already existed (the body is not read then). Throws StoreError:
  // InvalidName (bad digest), DigestMismatch (`digest mismatch, expected "<digest>", got
  // "sha256:<hex>"`), Canceled (the body could not be read), Io, NoSpace.
  bool put(std::string_view digest, const BodyReader& read);

 private:
  std::filesystem::path dir_;
};

}  // namespace ollmlx::store
