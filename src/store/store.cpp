// The Store: names -> manifests -> hub-cache snapshots, and the operations on them (store.h).
#include "store/store.h"

#include <algorithm>
#include <cctype>

#include "store/cached_models.h"
#include "store/files.h"
#include "store/hf_cache.h"
#include "store/manifest.h"
#include "store/puller.h"

namespace ollmlx::store {

struct Store::Impl {
  ManifestStore manifests;
  HubCache cache;

  explicit Impl(const StoreConfig& c)
      : manifests(c.models_dir), cache(c.hub_cache, c.disable_symlinks) {}

  fs::path model_dir(const Manifest& m) const {
    if (m.source_type == "local") return m.snapshot;
    const std::string repo = cache.find_repo_case_insensitive(m.repo).value_or(m.repo);
    const fs::path dir = cache.snapshot_dir(repo, m.commit);
    std::error_code ec;
    if (!fs::is_directory(dir, ec) && !m.snapshot.empty()) return m.snapshot;
    return dir;
  }

  ModelRecord record(const Name& name, const Manifest& m, const std::string& digest,
                     std::chrono::system_clock::time_point modified) const {
    ModelRecord r;
    r.name = name.display_shortest();
    r.full_name = name.full();
    r.repo = m.repo;
    r.revision = m.revision;
    r.commit = m.commit;
    r.dir = model_dir(m).string();
    r.digest = digest;
    r.size = m.total_size();
    r.modified_at = modified;
    r.modelfile = m.modelfile;
    return r;
  }

  ModelRecord record(const ManifestEntry& e) const {
    return record(e.name, e.manifest, e.digest, e.modified_at);
  }

  // A manifest uses this repo commit.
  static bool uses(const Manifest& m, const std::string& repo, const std::string& commit) {
    return m.source_type == "huggingface" && iequals(m.repo, repo) && m.commit == commit;
  }

  bool referenced(const std::string& repo, const std::string& commit) const {
    for (const ManifestEntry& e : manifests.list())
      if (uses(e.manifest, repo, commit)) return true;
    return false;
  }

  // A hub-cache model `name` refers to ("org/repo[:tag]" or "hf.co/org/repo[:tag]"), unless a
  // manifest already uses its snapshot (then that manifest's name is the model's name).
  std::optional<CachedModel> find_cached(const Name& name) const {
    if (!name.is_hf_host() &&
        (!iequals(name.host, kDefaultHost) || iequals(name.ns, kDefaultNamespace)))
      return std::nullopt;
    const std::string ref = iequals(name.tag, kDefaultTag) ? "main" : name.tag;
    auto m = cached_model(cache, name.ns + "/" + name.model, ref);
    if (!m || referenced(m->manifest.repo, m->manifest.commit)) return std::nullopt;
    if (name.is_hf_host()) m->name.host = kHfHost;
    if (!iequals(name.tag, kDefaultTag)) m->name.tag = name.tag;
    return m;
  }

  // Removes the snapshot `m` used when no remaining manifest uses it.
  void release(const Manifest& m) const {
    if (m.source_type != "huggingface" || referenced(m.repo, m.commit)) return;
    auto repo = cache.find_repo_case_insensitive(m.repo);
    if (!repo) return;
    std::set<std::string> blobs;
    for (const ManifestFile& f : m.files)
      if (!f.blob.empty()) blobs.insert(f.blob);
    cache.remove_snapshot(*repo, m.commit, blobs);
  }
};

namespace {

Name parse_or_throw(std::string_view s, const std::string& message) {
  Name n = Name::parse(s);
  if (!n.is_valid()) throw StoreError(StoreErrorKind::InvalidName, message);
  return n;
}

bool digest_matches(const Name& n, const std::string& digest) {
  if (n.digest.empty()) return true;
  std::string want = n.digest;
  for (std::string_view prefix : {"sha256:", "sha256-"})
    if (want.rfind(prefix, 0) == 0) want = want.substr(prefix.size());
  std::transform(want.begin(), want.end(), want.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return want == digest;
}

// Keys of `layer` replace those of `base`; "parameters" objects merge key by key; null deletes.
nlohmann::ordered_json merge_modelfile(const nlohmann::ordered_json& base,
                                       const nlohmann::ordered_json& layer) {
  nlohmann::ordered_json out = base.is_object() ? base : nlohmann::ordered_json::object();
  if (!layer.is_object()) return out;
  for (const auto& [key, value] : layer.items()) {
    if (value.is_null()) {
      out.erase(key);
    } else if (key == "parameters" && value.is_object() && out.contains(key) &&
               out[key].is_object()) {
      for (const auto& [pk, pv] : value.items()) {
        if (pv.is_null())
          out[key].erase(pk);
        else
          out[key][pk] = pv;
      }
    } else {
      out[key] = value;
    }
  }
  return out;
}

}  // namespace

Store::Store(StoreConfig config)
    : config_(std::move(config)), impl_(std::make_shared<Impl>(config_)) {}

std::unique_ptr<Store> Store::open(StoreConfig config) {
  if (config.models_dir.empty() || config.hub_cache.empty()) {
    StoreConfig env = StoreConfig::from_env();
    if (config.models_dir.empty()) config.models_dir = env.models_dir;
    if (config.hub_cache.empty()) config.hub_cache = env.hub_cache;
  }
  if (!config.free_space) config.free_space = free_disk_space;
  std::error_code ec;
  fs::create_directories(config.models_dir / "manifests", ec);
  if (ec)
    throw_store(StoreErrorKind::Io, "{}: cannot create the model store: {}",
                config.models_dir.string(), ec.message());
  return std::unique_ptr<Store>(new Store(std::move(config)));
}

std::vector<ModelRecord> Store::list() {
  std::vector<ModelRecord> out;
  const std::vector<ManifestEntry> entries = impl_->manifests.list();
  for (const ManifestEntry& e : entries) out.push_back(impl_->record(e));
  for (const CachedModel& c : cached_models(impl_->cache)) {
    const bool shadowed = std::any_of(entries.begin(), entries.end(), [&](const ManifestEntry& e) {
      return e.name.equal_fold(c.name) ||
             Impl::uses(e.manifest, c.manifest.repo, c.manifest.commit);
    });
    if (shadowed) continue;
    ModelRecord r = impl_->record(c.name, c.manifest, c.digest, c.modified_at);
    r.from_hub_cache_only = true;
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const ModelRecord& a, const ModelRecord& b) {
    if (a.modified_at != b.modified_at) return a.modified_at > b.modified_at;
    return a.name < b.name;
  });
  return out;
}

std::optional<ModelRecord> Store::find(std::string_view name) {
  const Name n = parse_or_throw(name, "invalid model name");
  std::optional<ModelRecord> rec;
  if (auto e = impl_->manifests.read(n)) {
    rec = impl_->record(*e);
  } else if (auto c = impl_->find_cached(n)) {
    rec = impl_->record(c->name, c->manifest, c->digest, c->modified_at);
    rec->from_hub_cache_only = true;
  }
  if (rec && !digest_matches(n, rec->digest)) return std::nullopt;
  return rec;
}

void Store::copy(std::string_view src, std::string_view dst) {
  const Name s = parse_or_throw(src, fmt::format("source {} is invalid", go_quote(src)));
  const Name d = parse_or_throw(dst, fmt::format("destination {} is invalid", go_quote(dst)));
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Manifest> m;
  std::string digest;
  if (auto e = impl_->manifests.read(s)) {
    m = e->manifest;
    digest = e->digest;
  } else if (auto c = impl_->find_cached(s)) {
    if (!digest_matches(s, c->digest))
      throw StoreError(StoreErrorKind::NotFound, fmt::format("model {} not found", go_quote(src)));
    // The source gets its manifest now: once a manifest uses the snapshot, the hub-cache entry
    // is no longer listed on its own, and both names must stay.
    impl_->manifests.write(c->name, c->manifest);
    m = c->manifest;
    digest = c->digest;
  }
  if (!m || !digest_matches(s, digest))
    throw StoreError(StoreErrorKind::NotFound, fmt::format("model {} not found", go_quote(src)));
  impl_->manifests.write(d, *m);
}

void Store::remove(std::string_view name) {
  const Name n = parse_or_throw(name, fmt::format("name {} is invalid", go_quote(name)));
  std::lock_guard<std::mutex> lock(mu_);
  const std::string not_found = fmt::format("model '{}' not found", name);
  if (auto e = impl_->manifests.read(n)) {
    if (!digest_matches(n, e->digest)) throw StoreError(StoreErrorKind::NotFound, not_found);
    impl_->manifests.remove(e->name);
    impl_->release(e->manifest);
    return;
  }
  if (auto c = impl_->find_cached(n)) {
    if (!digest_matches(n, c->digest)) throw StoreError(StoreErrorKind::NotFound, not_found);
    impl_->cache.remove_snapshot(c->manifest.repo, c->manifest.commit, {});
    return;
  }
  throw StoreError(StoreErrorKind::NotFound, not_found);
}

ModelRecord Store::pull(std::string_view name,
                        const std::function<void(const PullProgress&)>& progress,
                        const std::atomic<bool>* cancel) {
  Name n = parse_or_throw(name, "invalid model name");
  // As Ollama: "pulling manifest" comes before the name is looked up, so an unknown model is an
  // error line after it in the /api/pull stream (the CLI then prints the message alone).
  if (progress) progress(PullProgress{"pulling manifest", "", 0, 0});
  const HubSource source = resolve_source(n);
  Manifest m = pull_to_cache(config_, impl_->cache, source, progress, cancel);
  // "org/repo" names take the hub's spelling of the repo (unless a manifest already has one).
  if (const size_t slash = m.repo.find('/'); iequals(n.ns + "/" + n.model, m.repo)) {
    n.ns = m.repo.substr(0, slash);
    n.model = m.repo.substr(slash + 1);
  }
  if (canceled(cancel)) throw_store(StoreErrorKind::Canceled, "pull canceled");
  if (progress) progress(PullProgress{"writing manifest", "", 0, 0});
  ManifestEntry entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entry = impl_->manifests.write(n, m);
  }
  if (progress) progress(PullProgress{"success", "", 0, 0});
  return impl_->record(entry);
}

ModelRecord Store::create(std::string_view name, const ModelRecord& from,
                          const nlohmann::ordered_json& modelfile_layer) {
  const Name n = parse_or_throw(name, "invalid model name");
  Manifest m;
  std::error_code ec;
  if (!from.repo.empty()) {
    m.repo = from.repo;
    m.revision = from.revision;
    m.commit = from.commit;
    m.snapshot = from.dir;
    if (!is_valid_repo_id(m.repo) || !is_commit_hash(m.commit))
      throw_store(StoreErrorKind::NotFound, "model {} not found", go_quote(from.name));
    // Reuse the source manifest's file list (with blob ids) when it describes the same commit.
    Name src = Name::parse(from.full_name);
    if (auto e = src.is_valid() ? impl_->manifests.read(src) : std::nullopt;
        e && Impl::uses(e->manifest, m.repo, m.commit))
      m.files = e->manifest.files;
    else
      m.files = snapshot_files(impl_->model_dir(m));
  } else {
    if (from.dir.empty() || !fs::is_directory(from.dir, ec))
      throw_store(StoreErrorKind::NotFound, "model directory {} does not exist",
                  go_quote(from.dir));
    m.source_type = "local";
    m.snapshot = fs::absolute(from.dir, ec).lexically_normal().string();
    m.files = snapshot_files(m.snapshot);
  }
  m.modelfile = merge_modelfile(from.modelfile, modelfile_layer);
  std::lock_guard<std::mutex> lock(mu_);
  if (from.from_hub_cache_only) {  // keep the source listed (see copy)
    const Name src = Name::parse(from.full_name);
    if (auto c = src.is_valid() ? impl_->find_cached(src) : std::nullopt)
      impl_->manifests.write(c->name, c->manifest);
  }
  return impl_->record(impl_->manifests.write(n, m));
}

}  // namespace ollmlx::store
