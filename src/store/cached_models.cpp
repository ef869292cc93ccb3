// Recognising MLX models in the hub cache and describing them as manifests (cached_models.h).
#include "store/cached_models.h"

#include <algorithm>

#include "format/safetensors.h"
#include "store/files.h"
#include "store/sha256.h"
#include "store/store_error.h"

namespace ollmlx::store {
namespace {

std::optional<CachedModel> describe(const HubCache& cache, const std::string& repo,
                                    const std::string& ref, const std::string& commit) {
  const std::string tag = ref == "main" ? "latest" : ref;
  const size_t slash = repo.find('/');
  Name name{std::string(kDefaultHost), repo.substr(0, slash), repo.substr(slash + 1), tag, ""};
  if (!name.is_valid()) return std::nullopt;
  const fs::path dir = cache.snapshot_dir(repo, commit);
  if (!is_mlx_snapshot(dir)) return std::nullopt;
  CachedModel m;
  m.name = std::move(name);
  m.manifest.repo = repo;
  m.manifest.revision = ref;
  m.manifest.commit = commit;
  m.manifest.snapshot = dir.string();
  m.manifest.files = snapshot_files(dir);
  m.digest = sha256_hex(m.manifest.serialize());
  m.modified_at = file_mtime(cache.repo_dir(repo) / "refs" / ref);
  return m;
}

}  // namespace

bool is_mlx_snapshot(const fs::path& dir) {
  std::error_code ec;
  const fs::path config = dir / "config.json";
  if (!fs::is_regular_file(config, ec)) return false;
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(read_file(config, 16ull << 20));
  } catch (...) {
    return false;
  }
  if (!cfg.is_object()) return false;
  std::vector<fs::path> weights;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    if (it->path().extension() == ".safetensors" && it->is_regular_file(ec))
      weights.push_back(it->path());
  if (weights.empty()) return false;
  if (cfg.contains("quantization") && cfg["quantization"].is_object()) return true;
  std::sort(weights.begin(), weights.end());
  try {
    auto file = format::SafetensorsFile::open(weights.front().string());
    auto it = file->header().metadata.find("format");
    return it != file->header().metadata.end() && it->second == "mlx";
  } catch (const Error&) {
    return false;
  }
}

std::vector<ManifestFile> snapshot_files(const fs::path& dir) {
  std::vector<ManifestFile> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_regular_file(ec2)) continue;
    ManifestFile f;
    f.path = it->path().lexically_relative(dir).generic_string();
    if (!is_safe_repo_path(f.path)) continue;
    f.size = static_cast<int64_t>(fs::file_size(it->path(), ec2));
    if (it->is_symlink(ec2)) {
      const fs::path target = fs::read_symlink(it->path(), ec2);
      const std::string id = target.filename().string();
      if (!ec2 && target.parent_path().filename() == "blobs" && (is_hex(id, 40) || is_hex(id, 64)))
        f.blob = id;
    }
    if (is_hex(f.blob, 64)) f.sha256 = f.blob;
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.path < b.path; });
  return out;
}

std::vector<CachedModel> cached_models(const HubCache& cache) {
  std::vector<CachedModel> out;
  for (const CachedRepo& r : cache.scan())
    for (const auto& [ref, commit] : r.refs)
      if (auto m = describe(cache, r.repo, ref, commit)) out.push_back(std::move(*m));
  return out;
}

std::optional<CachedModel> cached_model(const HubCache& cache, const std::string& repo,
                                        const std::string& ref) {
  auto spelled = cache.find_repo_case_insensitive(repo);
  if (!spelled) return std::nullopt;
  auto commit = cache.read_ref(*spelled, ref);
  if (!commit) return std::nullopt;
  return describe(cache, *spelled, ref, *commit);
}

}  // namespace ollmlx::store
