// The store's layout and operations without a network: manifests under OLLMLX_MODELS, models
// found in the hub cache, list/find/copy/remove/create, case-insensitive names, Ollama's error
// strings, and what remove deletes from the hub cache (and what it must keep).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <thread>

#include "store/hf_cache.h"
#include "store/sha256.h"
#include "store/store.h"
#include "store_test_util.h"

namespace ollmlx::store {
namespace {

using testing::fake_commit;
using testing::read_text;
using testing::RepoFile;
using testing::TempDir;
using testing::tiny_mlx_repo;
using testing::write_cached_repo;
using testing::write_text;

const std::string kRepo = "mlx-community/Tiny-4bit";

std::vector<RepoFile> model_files(uint32_t seed = 1) {
  std::vector<RepoFile> out;
  for (const RepoFile& f : tiny_mlx_repo(4096, seed))
    if (f.path != "README.md" && f.path != ".gitattributes" && f.path != "original/params.json")
      out.push_back(f);
  return out;
}

template <typename Fn>
StoreError expect_store_error(Fn&& fn) {
  try {
    fn();
  } catch (const StoreError& e) {
    return e;
  }
  ADD_FAILURE() << "no StoreError";
  return StoreError(StoreErrorKind::Io, "none");
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreConfig c;
    c.models_dir = tmp_.path() / "models";
    c.hub_cache = tmp_.path() / "hub";
    c.hub.endpoint = "http://127.0.0.1:9";  // never contacted here
    store_ = Store::open(c);
  }
  fs::path hub() const { return tmp_.path() / "hub"; }
  fs::path manifests() const { return tmp_.path() / "models" / "manifests"; }
  size_t manifest_count() const {
    size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(manifests(), ec);
         it != fs::recursive_directory_iterator(); ++it)
      n += it->is_regular_file();
    return n;
  }

  TempDir tmp_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, EmptyStore) {
  EXPECT_TRUE(store_->list().empty());
  EXPECT_FALSE(store_->find("llama3.2"));
  EXPECT_TRUE(fs::is_directory(manifests()));
}

TEST_F(StoreTest, HubCacheModelIsListedAsIs) {
  const std::string commit = fake_commit(1);
  write_cached_repo(hub(), kRepo, commit, model_files());
  // Not MLX (no quantization block, no "mlx" metadata), not a model, and an org with a dot:
  // none of these are listed.
  std::vector<RepoFile> plain = {
      {"config.json", R"({"model_type": "llama"})", false},
      {"model.safetensors", testing::tiny_safetensors(64, 2, /*mlx=*/false), true}};
  write_cached_repo(hub(), "meta/Plain", fake_commit(2), plain);
  write_cached_repo(hub(), "org/NoWeights", fake_commit(3), {{"config.json", "{}", false}});
  write_cached_repo(hub(), "my.org/Dotted", fake_commit(4), model_files(4));

  const auto models = store_->list();
  ASSERT_EQ(models.size(), 1u);
  const ModelRecord& m = models[0];
  EXPECT_EQ(m.name, "mlx-community/Tiny-4bit:latest");
  EXPECT_EQ(m.full_name, "registry.ollama.ai/mlx-community/Tiny-4bit:latest");
  EXPECT_EQ(m.repo, kRepo);
  EXPECT_EQ(m.revision, "main");
  EXPECT_EQ(m.commit, commit);
  EXPECT_EQ(m.dir, (hub() / "models--mlx-community--Tiny-4bit" / "snapshots" / commit).string());
  EXPECT_TRUE(fs::is_regular_file(fs::path(m.dir) / "config.json"));
  EXPECT_TRUE(m.from_hub_cache_only);
  EXPECT_EQ(m.digest.size(), 64u);
  int64_t size = 0;
  for (const RepoFile& f : model_files()) size += static_cast<int64_t>(f.content.size());
  EXPECT_EQ(m.size, size);
  EXPECT_EQ(manifest_count(), 0u);  // listed as-is, nothing written

  auto found = store_->find("MLX-COMMUNITY/tiny-4BIT");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "mlx-community/Tiny-4bit:latest");
  EXPECT_EQ(found->digest, m.digest);
  auto hf = store_->find("hf.co/mlx-community/Tiny-4bit");
  ASSERT_TRUE(hf);
  EXPECT_EQ(hf->name, "hf.co/mlx-community/Tiny-4bit:latest");
  EXPECT_FALSE(store_->find("mlx-community/Tiny-4bit:v2"));
  EXPECT_FALSE(store_->find("meta/Plain"));
  EXPECT_TRUE(store_->find("mlx-community/Tiny-4bit@sha256:" + m.digest));
  EXPECT_FALSE(store_->find("mlx-community/Tiny-4bit@sha256:" + std::string(64, '0')));
}

TEST_F(StoreTest, CopyWritesManifestsForBothNames) {
  const std::string commit = fake_commit(1);
  write_cached_repo(hub(), kRepo, commit, model_files());
  store_->copy("mlx-community/Tiny-4bit", "tiny");
  auto models = store_->list();
  ASSERT_EQ(models.size(), 2u);
  auto tiny = store_->find("tiny");
  auto src = store_->find("mlx-community/Tiny-4bit:latest");
  ASSERT_TRUE(tiny && src);
  EXPECT_EQ(tiny->name, "tiny:latest");
  EXPECT_FALSE(tiny->from_hub_cache_only);
  EXPECT_FALSE(src->from_hub_cache_only);
  EXPECT_EQ(tiny->dir, src->dir);
  EXPECT_EQ(tiny->commit, commit);
  EXPECT_EQ(tiny->digest, src->digest);  // same manifest bytes, as Ollama's copies
  // The digest is the sha256 of the manifest file's bytes.
  const fs::path file = manifests() / "registry.ollama.ai" / "library" / "tiny" / "latest";
  EXPECT_EQ(tiny->digest, sha256_hex(read_text(file)));
  EXPECT_EQ(manifest_count(), 2u);
  // ollmlx never writes OLLAMA_MODELS: everything is under models_dir.
  EXPECT_TRUE(fs::exists(manifests() / "registry.ollama.ai" / "mlx-community" / "Tiny-4bit"));
}

TEST_F(StoreTest, CopyAndRemoveErrorsUseOllamaStrings) {
  auto e = expect_store_error([&] { store_->copy("bad name", "x"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::InvalidName);
  EXPECT_EQ(e.message(), "source \"bad name\" is invalid");
  e = expect_store_error([&] { store_->copy("missing", "x"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotFound);
  EXPECT_EQ(e.message(), "model \"missing\" not found");
  e = expect_store_error([&] { store_->copy("missing", "a/b/c/d"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::InvalidName);
  EXPECT_EQ(e.message(), "destination \"a/b/c/d\" is invalid");
  e = expect_store_error([&] { store_->remove("nope"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotFound);
  EXPECT_EQ(e.message(), "model 'nope' not found");
  e = expect_store_error([&] { store_->remove("../x"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::InvalidName);
  EXPECT_EQ(e.message(), "name \"../x\" is invalid");
  e = expect_store_error([&] { store_->find("../../etc/passwd"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::InvalidName);
  EXPECT_EQ(e.message(), "invalid model name");
  e = expect_store_error([&] { store_->pull("a/b/c/d", nullptr, nullptr); });
  EXPECT_EQ(e.message(), "invalid model name");
}

TEST_F(StoreTest, NamesAreCaseInsensitiveAndKeepTheStoredCase) {
  write_cached_repo(hub(), kRepo, fake_commit(1), model_files());
  store_->copy(kRepo, "MyModel:Big");
  store_->copy(kRepo, "mymodel:BIG");  // same name: reuses the existing manifest
  store_->copy(kRepo, "MYMODEL:big");
  EXPECT_EQ(manifest_count(), 2u);  // the source and one MyModel
  auto m = store_->find("mymodel:big");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->name, "MyModel:Big");
  EXPECT_EQ(m->full_name, "registry.ollama.ai/library/MyModel:Big");
  store_->remove("MYMODEL:BIG");
  EXPECT_FALSE(store_->find("MyModel:Big"));
  EXPECT_EQ(manifest_count(), 1u);
  // Empty folders left by the removal are pruned.
  EXPECT_FALSE(fs::exists(manifests() / "registry.ollama.ai" / "library" / "MyModel"));
}

TEST_F(StoreTest, RemoveKeepsSharedSnapshotThenDeletesIt) {
  const std::string commit = fake_commit(1);
  write_cached_repo(hub(), kRepo, commit, model_files());
  store_->copy(kRepo, "alias");
  const fs::path repo_dir = hub() / "models--mlx-community--Tiny-4bit";
  store_->remove(kRepo);
  ASSERT_TRUE(store_->find("alias"));
  EXPECT_TRUE(fs::is_directory(repo_dir / "snapshots" / commit));  // alias still uses it
  EXPECT_EQ(store_->list().size(), 1u);
  store_->remove("alias");
  EXPECT_FALSE(fs::exists(repo_dir));  // last user gone: snapshot, refs and blobs removed
  EXPECT_TRUE(store_->list().empty());
}

TEST_F(StoreTest, RemoveNeverDeletesBlobsAnotherSnapshotUses) {
  // Two snapshots of one repo share config.json and tokenizer files but not the weights.
  const std::string c1 = fake_commit(1), c2 = fake_commit(2);
  std::vector<RepoFile> v1 = model_files(1), v2 = model_files(1);
  v2[1] = {"model.safetensors", testing::tiny_safetensors(4096, 99), true};
  write_cached_repo(hub(), kRepo, c1, v1, "main");
  write_cached_repo(hub(), kRepo, c2, v2, "v2");
  EXPECT_EQ(store_->list().size(), 2u);  // :latest and :v2
  // Another repo holding identical bytes is untouched too (blobs are per repo).
  write_cached_repo(hub(), "other/Same-4bit", fake_commit(3), v1);

  store_->remove(kRepo + ":latest");
  HubCache cache(hub());
  const fs::path blobs = hub() / "models--mlx-community--Tiny-4bit" / "blobs";
  EXPECT_FALSE(fs::exists(cache.snapshot_dir(kRepo, c1)));
  EXPECT_FALSE(fs::exists(hub() / "models--mlx-community--Tiny-4bit" / "refs" / "main"));
  EXPECT_TRUE(fs::exists(blobs / v1[0].blob_id()));   // config.json: shared with c2
  EXPECT_FALSE(fs::exists(blobs / v1[1].blob_id()));  // c1's weights: nobody else
  EXPECT_TRUE(fs::exists(blobs / v2[1].blob_id()));
  EXPECT_TRUE(fs::exists(hub() / "models--other--Same-4bit" / "blobs" / v1[1].blob_id()));
  auto v2rec = store_->find(kRepo + ":v2");
  ASSERT_TRUE(v2rec);
  EXPECT_TRUE(fs::is_regular_file(fs::path(v2rec->dir) / "model.safetensors"));
  EXPECT_EQ(store_->list().size(), 2u);  // :v2 and other/Same-4bit
}

TEST_F(StoreTest, CreateOverridesTheModelfileLayer) {
  write_cached_repo(hub(), kRepo, fake_commit(1), model_files());
  auto base = store_->find(kRepo);
  ASSERT_TRUE(base);
  nlohmann::ordered_json layer = {{"system", "You are terse."},
                                  {"parameters", {{"temperature", 0.5}, {"stop", {"<|end|>"}}}}};
  ModelRecord a = store_->create("terse", *base, layer);
  EXPECT_EQ(a.name, "terse:latest");
  EXPECT_EQ(a.modelfile["system"], "You are terse.");
  EXPECT_EQ(a.dir, base->dir);
  ModelRecord b = store_->create(
      "terse2", a, {{"parameters", {{"top_k", 5}, {"temperature", nullptr}}}, {"license", "MIT"}});
  EXPECT_EQ(b.modelfile["system"], "You are terse.");
  EXPECT_EQ(b.modelfile["license"], "MIT");
  EXPECT_EQ(b.modelfile["parameters"]["top_k"], 5);
  EXPECT_FALSE(b.modelfile["parameters"].contains("temperature"));
  EXPECT_EQ(b.modelfile["parameters"]["stop"][0], "<|end|>");
  auto found = store_->find("terse2");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->modelfile, b.modelfile);
  EXPECT_NE(found->digest, a.digest);
  // The source that was only in the hub cache got its own manifest and stays listed.
  EXPECT_EQ(store_->list().size(), 3u);
  auto e = expect_store_error([&] { store_->create("bad/name/x/y", *base, {}); });
  EXPECT_EQ(e.message(), "invalid model name");
}

TEST_F(StoreTest, CreateFromLocalDirectory) {
  const fs::path dir = tmp_.path() / "imported";
  for (const RepoFile& f : model_files()) write_text(dir / f.path, f.content);
  ModelRecord from;
  from.dir = dir.string();
  ModelRecord r = store_->create("local-model:q4", from, {{"template", "{{ prompt }}"}});
  EXPECT_EQ(r.dir, dir.string());
  EXPECT_TRUE(r.repo.empty());
  EXPECT_GT(r.size, 0);
  auto found = store_->find("local-model:q4");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->modelfile["template"], "{{ prompt }}");
  store_->remove("local-model:q4");
  EXPECT_TRUE(fs::is_directory(dir));  // a local model's files are not the store's to delete
  ModelRecord missing;
  missing.dir = (tmp_.path() / "nope").string();
  EXPECT_EQ(expect_store_error([&] { store_->create("x", missing, {}); }).kind(),
            StoreErrorKind::NotFound);
}

TEST_F(StoreTest, ListIsNewestFirstAndSkipsCorruptManifests) {
  write_cached_repo(hub(), kRepo, fake_commit(1), model_files());
  store_->copy(kRepo, "first");
  store_->copy(kRepo, "second");
  store_->copy(kRepo, "third");
  const auto now = fs::file_time_type::clock::now();
  auto set_age = [&](const std::string& model, int seconds) {
    fs::last_write_time(manifests() / "registry.ollama.ai" / "library" / model / "latest",
                        now - std::chrono::seconds(seconds));
  };
  set_age("first", 10);
  set_age("second", 30);
  set_age("third", 20);
  write_text(manifests() / "registry.ollama.ai" / "library" / "broken" / "latest", "{not json");
  write_text(manifests() / "registry.ollama.ai" / "library" / "other" / "latest",
             R"({"mediaType": "something else"})");
  std::vector<std::string> names;
  for (const ModelRecord& r : store_->list()) names.push_back(r.name);
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0], "mlx-community/Tiny-4bit:latest");  // written just now
  EXPECT_EQ(names[1], "first:latest");
  EXPECT_EQ(names[2], "third:latest");
  EXPECT_EQ(names[3], "second:latest");
  EXPECT_EQ(expect_store_error([&] { store_->find("broken"); }).kind(), StoreErrorKind::Corrupt);
}

TEST_F(StoreTest, ConcurrentCopiesAndReads) {
  write_cached_repo(hub(), kRepo, fake_commit(1), model_files());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        store_->copy(kRepo, fmt::format("m{}:{}", t, i));
        EXPECT_FALSE(store_->list().empty());
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(store_->list().size(), 41u);
}

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    setenv(name, value.c_str(), 1);
  }
  void unset(const char* name) {
    set(name, "");
    unsetenv(name);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value)
        setenv(name.c_str(), value->c_str(), 1);
      else
        unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST(StoreConfig, ReadsTheHuggingFaceEnvironment) {
  TempDir tmp;
  ScopedEnv env;
  for (const char* v :
       {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_ENDPOINT",
        "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_SYMLINKS", "OLLMLX_MODELS"})
    env.unset(v);
  env.set("HOME", tmp.path().string());
  StoreConfig c = StoreConfig::from_env();
  EXPECT_EQ(c.models_dir, tmp.path() / ".ollmlx" / "models");
  EXPECT_EQ(c.hub_cache, tmp.path() / ".cache" / "huggingface" / "hub");
  EXPECT_EQ(c.hub.endpoint, "https://huggingface.co");
  EXPECT_EQ(c.hub.token, "");
  EXPECT_FALSE(c.offline);
  EXPECT_FALSE(c.disable_symlinks);
  ASSERT_TRUE(c.free_space);
  EXPECT_GT(c.free_space(tmp.path()), 0u);

  env.set("XDG_CACHE_HOME", (tmp.path() / "xdg").string());
  EXPECT_EQ(StoreConfig::from_env().hub_cache, tmp.path() / "xdg" / "huggingface" / "hub");
  env.set("HF_HOME", "~/hfhome");
  write_text(tmp.path() / "hfhome" / "token", "  hf_fromfile\r\n");
  c = StoreConfig::from_env();
  EXPECT_EQ(c.hub_cache, tmp.path() / "hfhome" / "hub");
  EXPECT_EQ(c.hub.token, "hf_fromfile");
  env.set("HUGGINGFACE_HUB_CACHE", (tmp.path() / "legacy").string());
  EXPECT_EQ(StoreConfig::from_env().hub_cache, tmp.path() / "legacy");
  env.set("HF_HUB_CACHE", (tmp.path() / "cache").string());
  env.set("HF_ENDPOINT", "http://mirror.example:8080//");
  env.set("HF_TOKEN", "hf_abc\n");
  env.set("HF_HUB_OFFLINE", "TRUE");
  env.set("HF_HUB_DISABLE_SYMLINKS", "1");
  env.set("OLLMLX_MODELS", (tmp.path() / "m").string());
  c = StoreConfig::from_env();
  EXPECT_EQ(c.hub_cache, tmp.path() / "cache");
  EXPECT_EQ(c.hub.endpoint, "http://mirror.example:8080");
  EXPECT_EQ(c.hub.token, "hf_abc");
  EXPECT_TRUE(c.offline);
  EXPECT_TRUE(c.disable_symlinks);
  EXPECT_EQ(c.models_dir, tmp.path() / "m");
  // Store::open fills what a hand-made config leaves empty from the environment.
  auto s = Store::open(StoreConfig{});
  EXPECT_EQ(s->config().models_dir, tmp.path() / "m");
  EXPECT_TRUE(fs::is_directory(tmp.path() / "m" / "manifests"));
}

TEST(StoreErrors, KindsHaveNames) {
  for (StoreErrorKind k :
       {StoreErrorKind::InvalidName, StoreErrorKind::NotFound, StoreErrorKind::Unauthorized,
        StoreErrorKind::NotMlx, StoreErrorKind::NoSpace, StoreErrorKind::DigestMismatch,
        StoreErrorKind::Network, StoreErrorKind::Canceled, StoreErrorKind::Corrupt,
        StoreErrorKind::Io})
    EXPECT_STRNE(to_string(k), "unknown");
}

TEST(HubCache, LayoutMatchesHuggingFaceHub) {
  TempDir tmp;
  HubCache cache(tmp.path());
  const std::string commit = fake_commit(5);
  std::vector<RepoFile> files = model_files();
  files.push_back({"sub/dir/extra.json", "{}", false});
  write_cached_repo(tmp.path(), kRepo, commit, files);
  const fs::path snap = cache.snapshot_dir(kRepo, commit);
  EXPECT_EQ(fs::read_symlink(snap / "model.safetensors").string(),
            "../../blobs/" + files[1].sha256());
  EXPECT_EQ(fs::read_symlink(snap / "sub" / "dir" / "extra.json").string(),
            "../../../../blobs/" + files.back().oid());
  EXPECT_EQ(read_text(cache.repo_dir(kRepo) / "refs" / "main"), commit);  // no newline
  EXPECT_EQ(cache.read_ref(kRepo, "main"), commit);
  EXPECT_TRUE(cache.snapshot_complete(kRepo, commit, {{"config.json", files[0].oid()}}));
  EXPECT_FALSE(cache.snapshot_complete(kRepo, commit, {{"missing.json", files[0].oid()}}));
  EXPECT_EQ(HubCache::folder_name("org/name"), "models--org--name");
  EXPECT_EQ(cache.find_repo_case_insensitive("MLX-community/tiny-4BIT"), kRepo);
  // Nothing but the repo folder and .locks-style entries at the root.
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().rfind("models--", 0), 0u) << e.path();
}

TEST(HubCache, FallsBackToHardLinksWithoutSymlinks) {
  TempDir tmp;
  HubCache cache(tmp.path(), /*disable_symlinks=*/true);
  const std::string commit = fake_commit(6);
  const RepoFile f = model_files()[0];
  write_text(cache.blob_path(kRepo, f.blob_id()), f.content);
  cache.install_snapshot(kRepo, commit, {{f.path, f.blob_id()}});
  const fs::path p = cache.snapshot_dir(kRepo, commit) / f.path;
  EXPECT_FALSE(fs::is_symlink(p));
  EXPECT_EQ(read_text(p), f.content);
}

TEST(HubCache, ValidatesRepoIdsAndPaths) {
  EXPECT_TRUE(is_valid_repo_id("mlx-community/Llama-3.2-1B-Instruct-4bit"));
  EXPECT_TRUE(is_valid_repo_id("a/b.c_d-e"));
  for (const char* bad : {"gpt2", "a/b/c", "/b", "a/", "a/-b", "a/b-", "a/.b", "a/b--c", "a/b..c",
                          "a/b.git", "a b/c", "a/b\\c", "../x"})
    EXPECT_FALSE(is_valid_repo_id(bad)) << bad;
  EXPECT_TRUE(is_safe_repo_path("model.safetensors"));
  EXPECT_TRUE(is_safe_repo_path("a/b/c.json"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/.", "a\\b"})
    EXPECT_FALSE(is_safe_repo_path(bad)) << bad;
  EXPECT_FALSE(is_safe_repo_path(std::string("a\0b", 3)));
  EXPECT_TRUE(is_commit_hash(fake_commit(1)));
  EXPECT_FALSE(is_commit_hash("ABCDEF0123456789ABCDEF0123456789ABCDEF01"));
  // A ref file with hostile content is ignored; one with a trailing newline (llama.cpp) is read.
  TempDir tmp;
  HubCache cache(tmp.path());
  write_text(cache.repo_dir(kRepo) / "refs" / "main", "../../../etc/passwd");
  EXPECT_FALSE(cache.read_ref(kRepo, "main"));
  write_text(cache.repo_dir(kRepo) / "refs" / "main", fake_commit(1) + "\n");
  EXPECT_EQ(cache.read_ref(kRepo, "main"), fake_commit(1));
  EXPECT_FALSE(cache.read_ref(kRepo, "../main"));
}

}  // namespace
}  // namespace ollmlx::store
