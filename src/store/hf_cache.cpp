// Reading and writing the Hugging Face hub cache layout (see hf_cache.h). Everything found in
// the cache is untrusted: ref contents, symlink targets and folder names are validated before
// they name a file to read or delete.
#include "store/hf_cache.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/files.h"
#include "store/names.h"
#include "store/sha256.h"
#include "store/store_error.h"

namespace ollmlx::store {
namespace {

bool is_repo_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

bool is_valid_repo_segment(std::string_view s) {
  if (s.empty() || s.size() > 96) return false;
  for (char c : s)
    if (!is_repo_char(c)) return false;
  if (s.front() == '-' || s.front() == '.' || s.back() == '-' || s.back() == '.') return false;
  if (s.find("--") != std::string_view::npos || s.find("..") != std::string_view::npos)
    return false;
  return true;
}

bool is_blob_id(std::string_view s) { return is_hex(s, 40) || is_hex(s, 64); }

// The blob a snapshot symlink names ("../../blobs/<id>"), if it is one.
std::optional<std::string> symlink_blob(const fs::path& link) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  if (ec) return std::nullopt;
  const std::string id = target.filename().string();
  if (target.parent_path().filename() != "blobs" || !is_blob_id(id)) return std::nullopt;
  return id;
}

void collect_symlink_blobs(const fs::path& dir, std::set<std::string>& out) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec))
      if (auto id = symlink_blob(it->path())) out.insert(*id);
  }
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

bool is_valid_repo_id(std::string_view repo) {
  const size_t slash = repo.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view org = repo.substr(0, slash), name = repo.substr(slash + 1);
  if (!is_valid_repo_segment(org) || !is_valid_repo_segment(name)) return false;
  return !(name.size() >= 4 && name.substr(name.size() - 4) == ".git");
}

bool is_safe_repo_path(std::string_view path) {
  if (path.empty() || path.size() > 4096 || path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view seg = path.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg)
      if (c == '\\' || c == '\0') return false;
    start = end + 1;
  }
  return true;
}

bool is_commit_hash(std::string_view s) { return is_hex(s, 40); }

HubCache::HubCache(fs::path root, bool disable_symlinks)
    : root_(std::move(root)), disable_symlinks_(disable_symlinks) {}

std::string HubCache::folder_name(std::string_view repo) {
  std::string out = "models--";
  for (char c : repo) {
    if (c == '/')
      out += "--";
    else
      out += c;
  }
  return out;
}

fs::path HubCache::repo_dir(std::string_view repo) const { return root_ / folder_name(repo); }

fs::path HubCache::blob_path(std::string_view repo, std::string_view blob) const {
  return repo_dir(repo) / "blobs" / std::string(blob);
}

fs::path HubCache::incomplete_path(std::string_view repo, std::string_view blob) const {
  return repo_dir(repo) / "blobs" / (std::string(blob) + ".incomplete");
}

fs::path HubCache::lock_path(std::string_view repo, std::string_view blob) const {
  return root_ / ".locks" / folder_name(repo) / (std::string(blob) + ".lock");
}

fs::path HubCache::snapshot_dir(std::string_view repo, std::string_view commit) const {
  return repo_dir(repo) / "snapshots" / std::string(commit);
}

std::optional<std::string> HubCache::read_ref(std::string_view repo,
                                              std::string_view revision) const {
  if (!is_safe_repo_path(revision)) return std::nullopt;
  const fs::path p = repo_dir(repo) / "refs" / std::string(revision);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  try {
    std::string commit = trim(read_file(p, 4096));
    if (is_commit_hash(commit)) return commit;
  } catch (const StoreError&) {
  }
  return std::nullopt;
}

void HubCache::write_ref(std::string_view repo, std::string_view revision,
                         std::string_view commit) const {
  if (!is_safe_repo_path(revision) || !is_commit_hash(commit))
    throw_store(StoreErrorKind::Io, "refusing to write ref '{}' = '{}'", revision, commit);
  if (read_ref(repo, revision) == std::string(commit)) return;
  write_file_atomic(repo_dir(repo) / "refs" / std::string(revision), commit);
}

bool HubCache::snapshot_complete(std::string_view repo, std::string_view commit,
                                 const std::vector<SnapshotFile>& files) const {
  const fs::path dir = snapshot_dir(repo, commit);
  std::error_code ec;
  for (const SnapshotFile& f : files)
    if (!fs::is_regular_file(dir / f.path, ec)) return false;
  return true;
}

void HubCache::link_file(const fs::path& link, const fs::path& blob) const {
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec)
    throw_store(StoreErrorKind::Io, "{}: cannot create directory: {}", link.parent_path().string(),
                ec.message());
  const fs::path tmp = link.string() + "." + random_hex(8) + ".tmp";
  bool made = false;
  if (!disable_symlinks_) {
    const fs::path target = blob.lexically_relative(link.parent_path());
    made = ::symlink(target.c_str(), tmp.c_str()) == 0;
  }
  if (!made) made = ::link(blob.c_str(), tmp.c_str()) == 0;
  if (!made) {
    fs::copy_file(blob, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec)
      throw_store(StoreErrorKind::Io, "{}: cannot link or copy {}: {}", link.string(),
                  blob.string(), ec.message());
  }
  fs::rename(tmp, link, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw_store(StoreErrorKind::Io, "{}: cannot rename into place: {}", link.string(),
                ec.message());
  }
}

void HubCache::install_snapshot(std::string_view repo, std::string_view commit,
                                const std::vector<SnapshotFile>& files) const {
  if (!is_commit_hash(commit)) throw_store(StoreErrorKind::Io, "bad commit '{}'", commit);
  for (const SnapshotFile& f : files)
    if (!is_safe_repo_path(f.path) || !is_blob_id(f.blob))
      throw_store(StoreErrorKind::Io, "refusing to link '{}' -> '{}'", f.path, f.blob);
  const fs::path dir = snapshot_dir(repo, commit);
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    // Same depth as the final folder, so the relative symlinks stay valid after the rename.
    const fs::path tmp = dir.parent_path() / (".tmp-" + std::string(commit) + "-" + random_hex(8));
    try {
      for (const SnapshotFile& f : files) link_file(tmp / f.path, blob_path(repo, f.blob));
    } catch (...) {
      fs::remove_all(tmp, ec);
      throw;
    }
    fs::create_directories(tmp, ec);  // a snapshot with no files is still a folder
    fs::rename(tmp, dir, ec);
    std::error_code ignored;
    fs::remove_all(tmp, ignored);  // left only if another pull created `dir` first
    if (!ec) return;
  }
  for (const SnapshotFile& f : files)
    if (!fs::is_regular_file(dir / f.path, ec)) link_file(dir / f.path, blob_path(repo, f.blob));
}

void HubCache::remove_snapshot(std::string_view repo, std::string_view commit,
                               const std::set<std::string>& candidates) const {
  if (!is_commit_hash(commit)) return;
  const fs::path rdir = repo_dir(repo);
  const fs::path dir = snapshot_dir(repo, commit);
  std::set<std::string> blobs;
  for (const std::string& b : candidates)
    if (is_blob_id(b)) blobs.insert(b);
  collect_symlink_blobs(dir, blobs);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) throw_store(StoreErrorKind::Io, "{}: cannot remove: {}", dir.string(), ec.message());

  // Refs naming the removed commit.
  std::vector<fs::path> stale_refs;
  for (auto it = fs::recursive_directory_iterator(rdir / "refs", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    try {
      if (trim(read_file(it->path(), 4096)) == commit) stale_refs.push_back(it->path());
    } catch (const StoreError&) {
    }
  }
  for (const fs::path& p : stale_refs) fs::remove(p, ec);

  // Blobs still linked from another snapshot stay.
  std::set<std::string> used;
  bool any_snapshot = false;
  for (auto it = fs::directory_iterator(rdir / "snapshots", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().rfind(".tmp-", 0) == 0) continue;  // a pull in flight
    any_snapshot = true;
    collect_symlink_blobs(it->path(), used);
  }
  if (!any_snapshot) {
    fs::remove_all(rdir, ec);
    fs::remove_all(root_ / ".locks" / folder_name(repo), ec);
    return;
  }
  for (const std::string& b : blobs)
    if (!used.count(b)) fs::remove(blob_path(repo, b), ec);
}

std::vector<CachedRepo> HubCache::scan() const {
  std::vector<CachedRepo> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string folder = it->path().filename().string();
    if (folder.rfind("models--", 0) != 0 || !it->is_directory(ec)) continue;
    const std::string rest = folder.substr(8);
    const size_t sep = rest.find("--");
    if (sep == std::string::npos) continue;
    CachedRepo r;
    r.repo = rest.substr(0, sep) + "/" + rest.substr(sep + 2);
    if (!is_valid_repo_id(r.repo)) continue;
    r.dir = it->path();
    std::error_code ec2;
    for (auto ref = fs::directory_iterator(r.dir / "refs", ec2);
         !ec2 && ref != fs::directory_iterator(); ref.increment(ec2)) {
      const std::string name = ref->path().filename().string();
      if (auto commit = read_ref(r.repo, name)) r.refs[name] = *commit;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<std::string> HubCache::find_repo_case_insensitive(std::string_view repo) const {
  const std::string want = folder_name(repo);
  std::error_code ec;
  if (fs::is_directory(root_ / want, ec)) return std::string(repo);
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string folder = it->path().filename().string();
    if (iequals(folder, want)) {
      const std::string rest = folder.substr(8);
      const size_t sep = rest.find("--");
      if (sep == std::string::npos) continue;
      return rest.substr(0, sep) + "/" + rest.substr(sep + 2);
    }
  }
  return std::nullopt;
}

void HubCache::ensure_cachedir_tag() const {
  const fs::path tag = root_ / "CACHEDIR.TAG";
  std::error_code ec;
  if (fs::exists(tag, ec)) return;
  write_file_atomic(tag,
                    "Signature: 8a477f597d28d172789f06886806bc55\n"
                    "# This file is a cache directory tag created by ollmlx.\n"
                    "# For information about cache directory tags, see:\n"
                    "#\thttps://bford.info/cachedir/\n");
}

}  // namespace ollmlx::store
