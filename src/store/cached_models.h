// MLX models that are in the hub cache without an ollmlx manifest (downloaded by mlx-lm,
// huggingface_hub or an earlier ollmlx): how to recognise one and describe its files, so the
// store can list them as "<org>/<repo>:latest" and serve them without a second download.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/hf_cache.h"
#include "store/manifest.h"

namespace ollmlx::store {

// config.json (a JSON object) and top-level *.safetensors, made by MLX: config.json has a
// "quantization" block, or the first safetensors file's metadata says {"format": "mlx"}.
bool is_mlx_snapshot(const fs::path& dir);
// Every file under `dir` (symlinks followed), sorted by path; blob = the blobs/<id> a symlink
// names ("" for a plain file); sha256 = the id when it is 64 hex.
std::vector<ManifestFile> snapshot_files(const fs::path& dir);

struct CachedModel {
  Name name;          // registry.ollama.ai/<org>/<repo>:<tag> ("main" -> "latest")
  Manifest manifest;  // synthesised (never written)
  std::string digest;
  std::chrono::system_clock::time_point modified_at;  // the ref file's mtime
};

// Models for every top-level ref of every repo in the cache whose snapshot is an MLX model and
// whose ref name is a valid tag.
std::vector<CachedModel> cached_models(const HubCache& cache);
// The one for `repo` (matched case-insensitively) at ref `ref`, if it is an MLX model.
std::optional<CachedModel> cached_model(const HubCache& cache, const std::string& repo,
                                        const std::string& ref);

}  // namespace ollmlx::store
