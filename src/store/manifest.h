// ollmlx's own manifests: one small JSON file per model name under
// $OLLMLX_MODELS/manifests/<host>/<namespace>/<model>/<tag>, mapping the name to the weights
// (a Hugging Face repo + commit in the hub cache, or a local directory) plus a Modelfile layer.
// A model's digest is the sha256 of its manifest bytes, as in Ollama.
//
//   {"schemaVersion": 1,
//    "mediaType": "application/vnd.ollmlx.manifest.v1+json",
//    "source": {"type": "huggingface", "repo": "org/name", "revision": "main",
//               "commit": "<40 hex>", "snapshot": "<absolute snapshot dir when written>"}
//           | {"type": "local", "path": "<absolute model directory>"},
//    "files": [{"path": "model.safetensors", "blob": "<lfs sha256 or git sha1>", "size": 123,
//               "sha256": "<64 hex, LFS files only>"}],
//    "modelfile": {"template": "...", "system": "...", "parameters": {...},
//                  "messages": [...], "license": "..."}}
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/names.h"

namespace ollmlx::store {

namespace fs = std::filesystem;

struct ManifestFile {
  std::string path, blob, sha256;
  int64_t size = 0;
};

struct Manifest {
  std::string source_type = "huggingface";  // or "local"
  std::string repo, revision, commit;       // huggingface
  std::string snapshot;                     // huggingface: snapshot dir; local: model dir
  std::vector<ManifestFile> files;
  nlohmann::ordered_json modelfile = nlohmann::ordered_json::object();

  std::string serialize() const;  // the bytes written (and hashed for the digest)
  // Throws StoreError(Corrupt) naming `where` on anything malformed.
  static Manifest parse(const std::string& bytes, const std::string& where);
  int64_t total_size() const;
};

struct ManifestEntry {
  Name name;  // stored spelling
  Manifest manifest;
  std::string digest;  // sha256 of the file's bytes
  std::chrono::system_clock::time_point modified_at;
  fs::path path;
};

class ManifestStore {
 public:
  explicit ManifestStore(fs::path models_dir);
  const fs::path& dir() const { return dir_; }

  // `name` with each part replaced by the spelling already on disk (case-insensitive match,
  // part by part), so writing a case-shuffled name reuses the existing manifest.
  Name stored_spelling(const Name& name) const;
  std::optional<ManifestEntry> read(const Name& name) const;  // case-insensitive
  // Writes atomically under the stored spelling; returns the entry as written.
  ManifestEntry write(const Name& name, const Manifest& manifest) const;
  bool remove(const Name& name) const;  // removes the file and then-empty parent folders
  // Every readable manifest (unreadable ones are logged and skipped).
  std::vector<ManifestEntry> list() const;

 private:
  fs::path path_for(const Name& stored) const;
  fs::path dir_;
};

}  // namespace ollmlx::store
