// Helpers for the store tests: a self-deleting temp directory, tiny MLX model files (config,
// safetensors with MLX metadata, tokenizer files) and a hand-made hub cache entry, so no test
// needs a real model or network.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ollmlx::store::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A file of a model repo as the hub stores it.
struct RepoFile {
  std::string path;
  std::string content;
  bool lfs = false;
  int64_t listed_size = -1;    // >= 0: the size the fake hub's file list claims instead
  std::string oid() const;     // git blob sha1 of content
  std::string sha256() const;  // sha256 of content
  std::string blob_id() const { return lfs ? sha256() : oid(); }
};

// A valid safetensors file with one U8 tensor of `data_bytes` pseudo-random bytes (seeded) and
// {"format": "mlx"} metadata when `mlx`.
std::string tiny_safetensors(size_t data_bytes, uint32_t seed, bool mlx = true);
// config.json, model.safetensors (LFS, `weight_bytes`), tokenizer.json, tokenizer_config.json,
// special_tokens_map.json, chat_template.jinja, plus files a pull must skip (README.md,
// .gitattributes, original/params.json).
std::vector<RepoFile> tiny_mlx_repo(size_t weight_bytes = 300000, uint32_t seed = 1);
std::string fake_commit(uint32_t n);  // a 40-hex commit id

void write_text(const fs::path& path, const std::string& text);
std::string read_text(const fs::path& path);

// Writes `files` into <hub_cache>/models--org--name as huggingface_hub would (blobs, relative
// snapshot symlinks, refs/<ref> without newline).
void write_cached_repo(const fs::path& hub_cache, const std::string& repo,
                       const std::string& commit, const std::vector<RepoFile>& files,
                       const std::string& ref = "main");

}  // namespace ollmlx::store::testing
