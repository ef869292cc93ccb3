// Reading, writing and listing ollmlx manifests (format in manifest.h).
#include "store/manifest.h"

#include "store/files.h"
#include "store/hf_cache.h"
#include "store/sha256.h"
#include "store/store_error.h"
#include "util/log.h"

namespace ollmlx::store {
namespace {

using nlohmann::ordered_json;

constexpr const char* kMediaType = "application/vnd.ollmlx.manifest.v1+json";

// The entry of `dir` equal to `part` ignoring case (exact match preferred).
std::optional<std::string> match_entry(const fs::path& dir, const std::string& part) {
  std::error_code ec;
  if (fs::exists(dir / part, ec)) return part;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    if (iequals(entry, part)) return entry;
  }
  return std::nullopt;
}

const ordered_json& field(const ordered_json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    throw_store(StoreErrorKind::Corrupt, "{}: missing field '{}'", where, key);
  return j.at(key);
}

std::string string_field(const ordered_json& j, const char* key, const std::string& where) {
  const ordered_json& v = field(j, key, where);
  if (!v.is_string())
    throw_store(StoreErrorKind::Corrupt, "{}: field '{}' must be a string", where, key);
  return v.get<std::string>();
}

}  // namespace

std::string Manifest::serialize() const {
  ordered_json j;
  j["schemaVersion"] = 1;
  j["mediaType"] = kMediaType;
  ordered_json src;
  src["type"] = source_type;
  if (source_type == "local") {
    src["path"] = snapshot;
  } else {
    src["repo"] = repo;
    src["revision"] = revision;
    src["commit"] = commit;
    src["snapshot"] = snapshot;
  }
  j["source"] = std::move(src);
  ordered_json fl = ordered_json::array();
  for (const ManifestFile& f : files) {
    ordered_json e;
    e["path"] = f.path;
    e["blob"] = f.blob;
    e["size"] = f.size;
    if (!f.sha256.empty()) e["sha256"] = f.sha256;
    fl.push_back(std::move(e));
  }
  j["files"] = std::move(fl);
  j["modelfile"] = modelfile.is_object() ? modelfile : ordered_json::object();
  return j.dump(2) + "\n";
}

Manifest Manifest::parse(const std::string& bytes, const std::string& where) {
  ordered_json j;
  try {
    j = ordered_json::parse(bytes);
  } catch (const ordered_json::exception& e) {
    throw_store(StoreErrorKind::Corrupt, "{}: invalid JSON: {}", where, e.what());
  }
  if (!j.is_object()) throw_store(StoreErrorKind::Corrupt, "{}: not a JSON object", where);
  if (j.value("mediaType", std::string()) != kMediaType)
    throw_store(StoreErrorKind::Corrupt, "{}: not an ollmlx manifest", where);
  Manifest m;
  const ordered_json& src = field(j, "source", where);
  m.source_type = string_field(src, "type", where);
  if (m.source_type == "local") {
    m.snapshot = string_field(src, "path", where);
  } else if (m.source_type == "huggingface") {
    m.repo = string_field(src, "repo", where);
    m.revision = string_field(src, "revision", where);
    m.commit = string_field(src, "commit", where);
    if (src.contains("snapshot") && src["snapshot"].is_string()) m.snapshot = src["snapshot"];
    if (!is_valid_repo_id(m.repo) || !is_commit_hash(m.commit))
      throw_store(StoreErrorKind::Corrupt, "{}: invalid repo '{}' or commit '{}'", where, m.repo,
                  m.commit);
  } else {
    throw_store(StoreErrorKind::Corrupt, "{}: unknown source type '{}'", where, m.source_type);
  }
  if (j.contains("files")) {
    const ordered_json& fl = j["files"];
    if (!fl.is_array()) throw_store(StoreErrorKind::Corrupt, "{}: 'files' must be an array", where);
    for (const ordered_json& e : fl) {
      ManifestFile f;
      f.path = string_field(e, "path", where);
      f.blob = string_field(e, "blob", where);
      const ordered_json& size = field(e, "size", where);
      if (!size.is_number_integer() || size.get<int64_t>() < 0)
        throw_store(StoreErrorKind::Corrupt, "{}: bad size for '{}'", where, f.path);
      f.size = size.get<int64_t>();
      if (e.contains("sha256") && e["sha256"].is_string()) f.sha256 = e["sha256"];
      if (!is_safe_repo_path(f.path))
        throw_store(StoreErrorKind::Corrupt, "{}: unsafe file path '{}'", where, f.path);
      m.files.push_back(std::move(f));
    }
  }
  if (j.contains("modelfile") && j["modelfile"].is_object()) m.modelfile = j["modelfile"];
  return m;
}

int64_t Manifest::total_size() const {
  int64_t n = 0;
  for (const ManifestFile& f : files) n += f.size;
  return n;
}

ManifestStore::ManifestStore(fs::path models_dir) : dir_(std::move(models_dir)) {}

fs::path ManifestStore::path_for(const Name& n) const {
  return dir_ / "manifests" / n.host / n.ns / n.model / n.tag;
}

Name ManifestStore::stored_spelling(const Name& name) const {
  Name out = name;
  fs::path dir = dir_ / "manifests";
  for (std::string* part : {&out.host, &out.ns, &out.model, &out.tag}) {
    auto found = match_entry(dir, *part);
    if (!found) break;
    *part = *found;
    dir /= *found;
  }
  return out;
}

std::optional<ManifestEntry> ManifestStore::read(const Name& name) const {
  const Name stored = stored_spelling(name);
  const fs::path p = path_for(stored);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  ManifestEntry e;
  const std::string bytes = read_file(p, 16ull << 20);
  e.manifest = Manifest::parse(bytes, p.string());
  e.name = stored;
  e.name.digest.clear();
  e.digest = sha256_hex(bytes);
  e.modified_at = file_mtime(p);
  e.path = p;
  return e;
}

ManifestEntry ManifestStore::write(const Name& name, const Manifest& manifest) const {
  Name stored = stored_spelling(name);
  stored.digest.clear();
  const fs::path p = path_for(stored);
  const std::string bytes = manifest.serialize();
  write_file_atomic(p, bytes);
  ManifestEntry e;
  e.name = stored;
  e.manifest = manifest;
  e.digest = sha256_hex(bytes);
  e.modified_at = file_mtime(p);
  e.path = p;
  return e;
}

bool ManifestStore::remove(const Name& name) const {
  const fs::path p = path_for(stored_spelling(name));
  std::error_code ec;
  if (!fs::remove(p, ec)) return false;
  const fs::path top = dir_ / "manifests";
  for (fs::path d = p.parent_path(); d != top && d.string().size() > top.string().size();
       d = d.parent_path()) {
    if (!fs::is_empty(d, ec) || ec) break;
    fs::remove(d, ec);
  }
  return true;
}

std::vector<ManifestEntry> ManifestStore::list() const {
  std::vector<ManifestEntry> out;
  const fs::path top = dir_ / "manifests";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(top, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() < 3) continue;
    it.disable_recursion_pending();
    if (!it->is_regular_file(ec)) continue;
    const fs::path rel = it->path().lexically_relative(top);
    std::vector<std::string> parts;
    for (const auto& p : rel) parts.push_back(p.string());
    if (parts.size() != 4 || parts[3].ends_with(".tmp")) continue;
    Name n{parts[0], parts[1], parts[2], parts[3], ""};
    if (!n.is_valid()) continue;
    try {
      const std::string bytes = read_file(it->path(), 16ull << 20);
      ManifestEntry e;
      e.manifest = Manifest::parse(bytes, it->path().string());
      e.name = n;
      e.digest = sha256_hex(bytes);
      e.modified_at = file_mtime(it->path());
      e.path = it->path();
      out.push_back(std::move(e));
    } catch (const StoreError& err) {
      log::warn("skipping manifest: {}", err.what());
    }
  }
  return out;
}

}  // namespace ollmlx::store
