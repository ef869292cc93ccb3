// The Hugging Face hub cache, laid out exactly as huggingface_hub and llama.cpp lay it out, so a
// model ollmlx pulls is usable by mlx-lm and a model they downloaded is usable by ollmlx:
//
//   <root>/models--<org>--<name>/blobs/<blob id>          file bytes (id = lfs sha256 or git sha1)
//   <root>/models--<org>--<name>/blobs/<id>.incomplete    a download in progress (resumable)
//   <root>/models--<org>--<name>/snapshots/<commit>/<path> relative symlink -> ../../blobs/<id>
//   <root>/models--<org>--<name>/refs/<revision>          the commit, no trailing newline
//   <root>/.locks/models--<org>--<name>/<id>.lock         flock()ed while a blob is written
//
// Where symlinks are unavailable (or HF_HUB_DISABLE_SYMLINKS is set) snapshot files are hard
// links to the blob, else copies.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::store {

namespace fs = std::filesystem;

// "org/name" with Hugging Face's rules: [A-Za-z0-9_.-] segments, name 1-96 bytes, no leading or
// trailing '-' or '.', no "--" or "..", not ending in ".git". ollmlx requires the org.
bool is_valid_repo_id(std::string_view repo);
// A path inside a repo: relative, '/'-separated, no empty, "." or ".." segment, no '\\' or NUL.
bool is_safe_repo_path(std::string_view path);
bool is_commit_hash(std::string_view s);  // 40 lowercase hex digits

// One file of a snapshot and the blob that holds its bytes.
struct SnapshotFile {
  std::string path;  // relative path in the repo
  std::string blob;  // blob id: lfs sha256 (64 hex) or git sha1 (40 hex)
};

struct CachedRepo {
  std::string repo;                         // "org/name" as spelled by the folder
  fs::path dir;                             // <root>/models--org--name
  std::map<std::string, std::string> refs;  // top-level refs: name -> commit
};

class HubCache {
 public:
  explicit HubCache(fs::path root, bool disable_symlinks = false);

  const fs::path& root() const { return root_; }
  static std::string folder_name(std::string_view repo);  // "models--org--name"

  fs::path repo_dir(std::string_view repo) const;
  fs::path blob_path(std::string_view repo, std::string_view blob) const;
  fs::path incomplete_path(std::string_view repo, std::string_view blob) const;
  fs::path lock_path(std::string_view repo, std::string_view blob) const;
  fs::path snapshot_dir(std::string_view repo, std::string_view commit) const;

  std::optional<std::string> read_ref(std::string_view repo, std::string_view revision) const;
  // Atomic; left alone when it already holds `commit`.
  void write_ref(std::string_view repo, std::string_view revision, std::string_view commit) const;

  // True if every file is present in the snapshot and resolves to a regular file.
  bool snapshot_complete(std::string_view repo, std::string_view commit,
                         const std::vector<SnapshotFile>& files) const;
  // Makes snapshots/<commit> hold exactly-linked `files` (each blob must exist). A new snapshot
  // is built in a temporary directory and renamed into place, so it appears complete or not at
  // all; in an existing one each missing link is created atomically (tmp name + rename).
  void install_snapshot(std::string_view repo, std::string_view commit,
                        const std::vector<SnapshotFile>& files) const;
  // Deletes snapshots/<commit>, every ref naming it, and each blob in `candidates` (plus those
  // its symlinks name) that no remaining snapshot links to; the whole repo folder (and its lock
  // folder) goes when no snapshot is left.
  void remove_snapshot(std::string_view repo, std::string_view commit,
                       const std::set<std::string>& candidates) const;

  // Repos in the cache ("models--*" folders with a refs/ or snapshots/ folder).
  std::vector<CachedRepo> scan() const;
  // The folder spelling of `repo` when the cache holds it under another case.
  std::optional<std::string> find_repo_case_insensitive(std::string_view repo) const;
  // Writes CACHEDIR.TAG at the root if missing (huggingface_hub >= 1.9 does the same).
  void ensure_cachedir_tag() const;

 private:
  void link_file(const fs::path& link, const fs::path& blob) const;
  fs::path root_;
  bool disable_symlinks_;
};

}  // namespace ollmlx::store
