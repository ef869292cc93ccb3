// The pull algorithm (see puller.h). Design after llama.cpp's common/hf-cache.cpp (commit-pinned
// downloads into the standard cache layout), plus sha256/sha1 verification of every file and
// Ollama-style progress.
#include "store/puller.h"

#include <fmt/format.h>

#include "store/cached_models.h"
#include "store/downloader.h"
#include "store/files.h"
#include "store/library_names.h"
#include "store/sha256.h"
#include "store/store.h"
#include "util/log.h"

namespace ollmlx::store {
namespace {

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

// mlx-community's usual name for a conversion of `repo`.
std::string mlx_suggestion(const std::string& repo) {
  std::string base = repo.substr(repo.find('/') + 1);
  for (std::string_view suffix : {"-GGUF", "_GGUF", ".GGUF"})
    if (ends_with_ci(base, suffix)) base.resize(base.size() - suffix.size());
  return "mlx-community/" + base + "-4bit";
}

PullProgress file_progress(const TreeEntry& e, int64_t completed) {
  PullProgress p;
  p.status = "pulling " + e.blob_id().substr(0, 12);
  p.digest = (e.is_lfs() ? "sha256:" : "sha1:") + e.blob_id();
  p.total = e.size;
  p.completed = completed;
  return p;
}

// The cache's copy of `source`, if it holds a complete MLX snapshot for it.
std::optional<Manifest> from_cache(const HubCache& cache, const HubSource& source) {
  auto repo = cache.find_repo_case_insensitive(source.repo);
  if (!repo) return std::nullopt;
  std::optional<std::string> commit =
      is_commit_hash(source.revision) ? source.revision : cache.read_ref(*repo, source.revision);
  if (!commit) return std::nullopt;
  const fs::path dir = cache.snapshot_dir(*repo, *commit);
  if (!is_mlx_snapshot(dir)) return std::nullopt;
  Manifest m;
  m.repo = *repo;
  m.revision = source.revision;
  m.commit = *commit;
  m.snapshot = dir.string();
  m.files = snapshot_files(dir);
  return m;
}

}  // namespace

HubSource resolve_source(const Name& name) {
  HubSource s;
  if (name.is_hf_host() || !iequals(name.host, kDefaultHost)) {
    if (!name.is_hf_host())
      throw_store(StoreErrorKind::NotFound,
                  "pull model manifest: file does not exist: ollmlx pulls from Hugging Face only "
                  "(hf.co/<org>/<repo> or <org>/<repo>), not from {}",
                  name.host);
    s.repo = name.ns + "/" + name.model;
  } else if (iequals(name.ns, kDefaultNamespace)) {
    auto repo = library_repo(name.model, name.tag);
    if (!repo)
      throw_store(StoreErrorKind::NotFound,
                  "pull model manifest: file does not exist: {}:{} is not in ollmlx's library of "
                  "MLX models; pull a Hugging Face repository instead, e.g. "
                  "mlx-community/<model>-4bit",
                  name.model, name.tag);
    s.repo = *repo;
    s.revision = "main";
    return s;
  } else {
    s.repo = name.ns + "/" + name.model;
  }
  s.revision = iequals(name.tag, kDefaultTag) ? "main" : name.tag;
  if (!is_valid_repo_id(s.repo)) throw_store(StoreErrorKind::InvalidName, "invalid model name");
  return s;
}

std::vector<TreeEntry> select_model_files(const std::string& repo,
                                          const std::vector<TreeEntry>& tree) {
  bool has_config = false, any_safetensors = false, model_safetensors = false;
  bool gguf = false, pytorch = false;
  for (const TreeEntry& e : tree) {
    const bool top = e.path.find('/') == std::string::npos;
    if (ends_with_ci(e.path, ".gguf")) gguf = true;
    if (!top) continue;
    if (e.path == "config.json") has_config = true;
    if (ends_with_ci(e.path, ".safetensors")) {
      any_safetensors = true;
      if (starts_with_ci(e.path, "model")) model_safetensors = true;
    }
    if (ends_with_ci(e.path, ".bin") || ends_with_ci(e.path, ".pth") || ends_with_ci(e.path, ".pt"))
      pytorch = true;
  }
  if (!any_safetensors) {
    if (gguf)
      throw_store(StoreErrorKind::NotMlx,
                  "{} is a GGUF repository, not an MLX model: pull an MLX conversion instead "
                  "(e.g. {}; see https://huggingface.co/mlx-community), or import the GGUF file "
                  "with 'ollmlx import'",
                  repo, mlx_suggestion(repo));
    if (pytorch)
      throw_store(StoreErrorKind::NotMlx,
                  "{} has only PyTorch weights (.bin), no safetensors: pull an MLX conversion "
                  "instead (e.g. {}), or convert it with 'mlx_lm.convert --hf-path {}'",
                  repo, mlx_suggestion(repo), repo);
    throw_store(StoreErrorKind::NotMlx,
                "{} has no safetensors weights: it is not an MLX model (try {})", repo,
                mlx_suggestion(repo));
  }
  if (!has_config)
    throw_store(StoreErrorKind::NotMlx,
                "{} has no config.json: it is not an MLX model repository (try {})", repo,
                mlx_suggestion(repo));
  std::vector<TreeEntry> out;
  for (const TreeEntry& e : tree) {
    const std::string& p = e.path;
    if (p.find('/') != std::string::npos) continue;
    bool keep = false;
    if (ends_with_ci(p, ".safetensors"))
      keep = !model_safetensors || starts_with_ci(p, "model");
    else
      keep = ends_with_ci(p, ".json") || ends_with_ci(p, ".jinja") || ends_with_ci(p, ".txt") ||
             ends_with_ci(p, ".jsonl") || ends_with_ci(p, ".tiktoken") || p == "tokenizer.model" ||
             p == "tiktoken.model";
    if (keep) out.push_back(e);
  }
  return out;
}

Manifest pull_to_cache(const StoreConfig& config, const HubCache& cache, const HubSource& source,
                       const std::function<void(const PullProgress&)>& progress,
                       const std::atomic<bool>* cancel) {
  auto emit = [&](const PullProgress& p) {
    if (progress) progress(p);
  };
  auto status = [&](const char* s) { emit(PullProgress{s, "", 0, 0}); };
  // "pulling manifest" is reported by Store::pull, before the name is resolved.

  if (config.offline) {
    if (auto m = from_cache(cache, source)) {
      status("verifying sha256 digest");
      return *m;
    }
    throw_store(StoreErrorKind::Network,
                "HF_HUB_OFFLINE is set and {} (revision {}) is not in the hub cache {}",
                source.repo, source.revision, cache.root().string());
  }

  HubClient hub(config.hub, cancel);
  RevisionInfo rev;
  try {
    rev = hub.revision(source.repo, source.revision);
  } catch (const StoreError& e) {
    if (e.kind() != StoreErrorKind::Network) throw;
    // The hub is unreachable: a complete copy in the cache is as good (huggingface_hub does
    // the same).
    auto m = from_cache(cache, source);
    if (!m) throw;
    log::warn("{}; using the copy of {} in the hub cache", e.what(), source.repo);
    status("verifying sha256 digest");
    return *m;
  }
  const std::string repo = rev.id;
  const std::vector<TreeEntry> files = select_model_files(repo, hub.tree(repo, rev.sha));

  // Free space: everything not yet in blobs/, less what partial downloads already hold.
  uint64_t needed = 0;
  for (const TreeEntry& e : files) {
    std::error_code ec;
    const auto have = fs::file_size(cache.blob_path(repo, e.blob_id()), ec);
    if (!ec && static_cast<int64_t>(have) == e.size) continue;
    const auto part = fs::file_size(cache.incomplete_path(repo, e.blob_id()), ec);
    const int64_t partial = ec ? 0 : std::min<int64_t>(static_cast<int64_t>(part), e.size);
    needed += static_cast<uint64_t>(e.size - partial);
  }
  const uint64_t free =
      config.free_space ? config.free_space(cache.root()) : free_disk_space(cache.root());
  if (needed > free)
    throw_store(StoreErrorKind::NoSpace,
                "not enough disk space to pull {}: {} needed, {} free in {}", repo,
                human_bytes(needed), human_bytes(free), cache.root().string());

  for (const TreeEntry& e : files) {
    std::error_code ec;
    const auto have = fs::file_size(cache.blob_path(repo, e.blob_id()), ec);
    emit(file_progress(e, !ec && static_cast<int64_t>(have) == e.size ? e.size : 0));
  }
  FetchContext ctx{hub, cache, repo, rev.sha};
  fetch_all(ctx, files, config.max_parallel, config.progress_interval, cancel,
            [&](size_t i, int64_t completed, bool) { emit(file_progress(files[i], completed)); });
  if (canceled(cancel)) throw_store(StoreErrorKind::Canceled, "pull canceled");

  status("verifying sha256 digest");
  Manifest m;
  m.repo = repo;
  m.revision = source.revision;
  m.commit = rev.sha;
  std::vector<SnapshotFile> links;
  for (const TreeEntry& e : files) {
    std::error_code ec;
    const auto have = fs::file_size(cache.blob_path(repo, e.blob_id()), ec);
    if (ec || static_cast<int64_t>(have) != e.size)
      throw_store(StoreErrorKind::Io, "{}: blob of {} missing after download", repo, e.path);
    links.push_back({e.path, e.blob_id()});
    m.files.push_back({e.path, e.blob_id(), e.lfs_sha256, e.size});
  }
  cache.ensure_cachedir_tag();
  cache.install_snapshot(repo, rev.sha, links);
  if (source.revision != rev.sha) cache.write_ref(repo, source.revision, rev.sha);
  m.snapshot = cache.snapshot_dir(repo, rev.sha).string();
  return m;
}

}  // namespace ollmlx::store
