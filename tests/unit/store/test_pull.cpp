// Pulling from a local fake hub (fake_hub.h): the normal pull and its cache layout and progress,
// resume after a dropped connection (now and in a later pull), corrupted bytes, missing and
// gated repos, non-MLX repos, concurrent pulls, cancellation, the disk-space check, retries,
// pagination, offline use of the cache, and re-pulling while a model is mapped.
#include <gtest/gtest.h>

#include <thread>

#include "fake_hub.h"
#include "format/model_dir.h"
#include "store/hf_cache.h"
#include "store/puller.h"
#include "store/sha256.h"
#include "store/store.h"
#include "store_test_util.h"

namespace ollmlx::store {
namespace {

using namespace std::chrono_literals;
using testing::fake_commit;
using testing::FakeHub;
using testing::FakeRepo;
using testing::read_text;
using testing::RepoFile;
using testing::TempDir;
using testing::tiny_mlx_repo;

const std::string kRepo = "mlx-community/Tiny-4bit";
const std::vector<std::string> kModelFiles = {
    "config.json",           "model.safetensors",       "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"};

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

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = tiny_mlx_repo(300000, 1);
    FakeRepo r;
    r.id = kRepo;
    r.refs["main"] = commit_;
    r.trees[commit_] = files_;
    hub_.add_repo(r);
  }

  StoreConfig config() {
    StoreConfig c;
    c.models_dir = tmp_.path() / "models";
    c.hub_cache = tmp_.path() / "hub";
    c.hub.endpoint = hub_.endpoint();
    c.hub.retry.sleep = [this](std::chrono::milliseconds d) {
      std::lock_guard<std::mutex> g(mu_);
      sleeps_.push_back(d);
    };
    c.free_space = [](const fs::path&) { return UINT64_MAX; };
    c.progress_interval = 5ms;
    return c;
  }

  Store& store() {
    if (!store_) store_ = Store::open(config());
    return *store_;
  }

  ModelRecord pull(const std::string& name, Store* s = nullptr,
                   const std::atomic<bool>* cancel = nullptr) {
    return (s ? *s : store())
        .pull(
            name,
            [this](const PullProgress& p) {
              std::lock_guard<std::mutex> g(mu_);
              events_.push_back(p);
            },
            cancel);
  }

  const RepoFile& file(const std::string& path) const {
    for (const RepoFile& f : files_)
      if (f.path == path) return f;
    throw std::runtime_error("no file " + path);
  }
  fs::path repo_dir() const { return tmp_.path() / "hub" / "models--mlx-community--Tiny-4bit"; }
  fs::path blob(const std::string& path) const {
    return repo_dir() / "blobs" / file(path).blob_id();
  }
  bool nothing_installed() {
    return store().list().empty() && !fs::exists(repo_dir() / "snapshots" / commit_) &&
           !fs::exists(repo_dir() / "refs" / "main") &&
           !fs::exists(tmp_.path() / "models" / "manifests" / "registry.ollama.ai");
  }

  TempDir tmp_;
  FakeHub hub_;
  std::string commit_ = fake_commit(100);
  std::vector<RepoFile> files_;
  std::unique_ptr<Store> store_;
  std::mutex mu_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::vector<PullProgress> events_;
};

TEST_F(PullTest, PullsIntoTheHubCacheLayout) {
  const ModelRecord r = pull(kRepo);
  EXPECT_EQ(r.name, "mlx-community/Tiny-4bit:latest");
  EXPECT_EQ(r.full_name, "registry.ollama.ai/mlx-community/Tiny-4bit:latest");
  EXPECT_EQ(r.repo, kRepo);
  EXPECT_EQ(r.revision, "main");
  EXPECT_EQ(r.commit, commit_);
  const fs::path snap = repo_dir() / "snapshots" / commit_;
  EXPECT_EQ(r.dir, snap.string());
  EXPECT_EQ(read_text(repo_dir() / "refs" / "main"), commit_);
  EXPECT_TRUE(fs::exists(tmp_.path() / "hub" / "CACHEDIR.TAG"));
  int64_t size = 0;
  for (const std::string& p : kModelFiles) {
    const RepoFile& f = file(p);
    size += static_cast<int64_t>(f.content.size());
    ASSERT_TRUE(fs::is_symlink(snap / p)) << p;
    EXPECT_EQ(fs::read_symlink(snap / p).string(), "../../blobs/" + f.blob_id());
    EXPECT_EQ(read_text(snap / p), f.content) << p;
  }
  EXPECT_EQ(r.size, size);
  // Only what an MLX model needs was fetched.
  EXPECT_FALSE(fs::exists(snap / "README.md"));
  EXPECT_FALSE(fs::exists(snap / ".gitattributes"));
  EXPECT_FALSE(fs::exists(snap / "original"));
  EXPECT_EQ(hub_.count("README.md"), 0u);
  for (const auto& e : fs::directory_iterator(repo_dir() / "blobs"))
    EXPECT_EQ(e.path().extension(), "") << "leftover " << e.path();
  // The manifest is the model's digest, and the files are loadable as an MLX model.
  const fs::path manifest = tmp_.path() / "models" / "manifests" / "registry.ollama.ai" /
                            "mlx-community" / "Tiny-4bit" / "latest";
  EXPECT_EQ(r.digest, sha256_hex(read_text(manifest)));
  auto weights = format::WeightSet::open(r.dir);
  EXPECT_TRUE(weights.contains("w"));
  const auto models = store().list();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, r.name);
  EXPECT_EQ(models[0].digest, r.digest);
  EXPECT_FALSE(models[0].from_hub_cache_only);
}

TEST_F(PullTest, EmptyFilesArePulledToo) {
  FakeRepo r;
  r.id = "org/Empty-4bit";
  r.refs["main"] = fake_commit(700);
  std::vector<RepoFile> files = tiny_mlx_repo(1000, 7);
  files.push_back({"added_tokens.json", "", false});
  r.trees[fake_commit(700)] = files;
  hub_.add_repo(r);
  const ModelRecord m = pull(r.id);
  EXPECT_TRUE(fs::is_regular_file(fs::path(m.dir) / "added_tokens.json"));
  EXPECT_EQ(fs::file_size(fs::path(m.dir) / "added_tokens.json"), 0u);
}

TEST_F(PullTest, ProgressFollowsOllamasPullStream) {
  pull(kRepo);
  ASSERT_GE(events_.size(), 4u);
  EXPECT_EQ(events_.front().status, "pulling manifest");
  const size_t n = events_.size();
  EXPECT_EQ(events_[n - 3].status, "verifying sha256 digest");
  EXPECT_EQ(events_[n - 2].status, "writing manifest");
  EXPECT_EQ(events_[n - 1].status, "success");
  for (const std::string& p : kModelFiles) {
    const RepoFile& f = file(p);
    const std::string digest = (f.lfs ? "sha256:" : "sha1:") + f.blob_id();
    int64_t last = -1;
    size_t seen = 0;
    for (const PullProgress& e : events_) {
      if (e.digest != digest) continue;
      ++seen;
      EXPECT_EQ(e.status, "pulling " + f.blob_id().substr(0, 12));
      EXPECT_EQ(e.total, static_cast<int64_t>(f.content.size()));
      EXPECT_GE(e.completed, last) << p;
      last = e.completed;
    }
    EXPECT_GE(seen, 2u) << p;
    EXPECT_EQ(last, static_cast<int64_t>(f.content.size())) << p;
  }
  for (const PullProgress& e : events_) EXPECT_EQ(e.status.find("README"), std::string::npos);
  // /api/pull lines leave out completed while 0, and digest/total on plain statuses.
  EXPECT_EQ(to_json(PullProgress{"pulling 0123456789ab", "sha256:0123", 10, 0}).dump(),
            R"({"status":"pulling 0123456789ab","digest":"sha256:0123","total":10})");
  EXPECT_EQ(to_json(PullProgress{"success", "", 0, 0}).dump(), R"({"status":"success"})");
  EXPECT_EQ(to_json(PullProgress{"pulling x", "sha256:1", 10, 4}).dump(),
            R"({"status":"pulling x","digest":"sha256:1","total":10,"completed":4})");
}

TEST_F(PullTest, NamesTakeTheHubsSpellingOfTheRepo) {
  const ModelRecord r = pull("MLX-Community/tiny-4bit");
  EXPECT_EQ(r.name, "mlx-community/Tiny-4bit:latest");
  EXPECT_EQ(r.repo, kRepo);
  EXPECT_TRUE(fs::is_directory(repo_dir()));
}

TEST_F(PullTest, SecondPullDownloadsNothing) {
  pull(kRepo);
  const size_t resolves = hub_.count("/resolve/");
  events_.clear();
  const ModelRecord r = pull("mlx-community/tiny-4BIT");  // any case: same model, same manifest
  EXPECT_EQ(hub_.count("/resolve/"), resolves);
  EXPECT_EQ(r.name, "mlx-community/Tiny-4bit:latest");
  EXPECT_EQ(store().list().size(), 1u);
  for (const PullProgress& e : events_) {
    if (!e.digest.empty()) {
      EXPECT_EQ(e.completed, e.total);
    }
  }
}

TEST_F(PullTest, DroppedConnectionResumesWithRange) {
  hub_.drop_after("model.safetensors", 100000);
  const ModelRecord r = pull(kRepo);
  const auto gets = hub_.downloads("model.safetensors");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[0].range, "");
  EXPECT_EQ(gets[1].range, "bytes=100000-");
  EXPECT_EQ(read_text(fs::path(r.dir) / "model.safetensors"), file("model.safetensors").content);
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_EQ(sleeps_[0], 1000ms);  // backoff is injected: nothing really slept
}

TEST_F(PullTest, InterruptedPullLeavesNothingAndALaterPullResumes) {
  StoreConfig c = config();
  c.hub.retry.max_attempts = 1;
  auto s = Store::open(c);
  hub_.drop_after("model.safetensors", 120000);
  const StoreError e = expect_store_error([&] { pull(kRepo, s.get()); });
  EXPECT_EQ(e.kind(), StoreErrorKind::Network);
  EXPECT_TRUE(nothing_installed());
  EXPECT_FALSE(s->find(kRepo));
  const fs::path part =
      repo_dir() / "blobs" / (file("model.safetensors").blob_id() + ".incomplete");
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), 120000u);
  EXPECT_FALSE(fs::exists(blob("model.safetensors")));

  const ModelRecord r = pull(kRepo, s.get());
  const auto gets = hub_.downloads("model.safetensors");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[1].range, "bytes=120000-");
  EXPECT_FALSE(fs::exists(part));
  EXPECT_EQ(read_text(fs::path(r.dir) / "model.safetensors"), file("model.safetensors").content);
}

TEST_F(PullTest, CorruptedByteIsFetchedAgainNeverInstalled) {
  hub_.corrupt("model.safetensors", 1);
  hub_.corrupt("tokenizer.json", 1);  // a small git file: verified by its git sha1
  const ModelRecord r = pull(kRepo);
  EXPECT_EQ(hub_.downloads("model.safetensors").size(), 2u);
  EXPECT_EQ(hub_.downloads("tokenizer.json").size(), 2u);
  for (const auto& g : hub_.downloads("model.safetensors")) EXPECT_EQ(g.range, "");
  EXPECT_EQ(read_text(fs::path(r.dir) / "model.safetensors"), file("model.safetensors").content);
  EXPECT_EQ(sha256_hex(read_text(blob("model.safetensors"))), file("model.safetensors").sha256());
}

TEST_F(PullTest, BytesThatNeverVerifyAreRefused) {
  hub_.corrupt("model.safetensors", 100);
  const StoreError e = expect_store_error([&] { pull(kRepo); });
  EXPECT_EQ(e.kind(), StoreErrorKind::DigestMismatch);
  EXPECT_EQ(e.message().rfind("digest mismatch, file must be downloaded again: want sha256:" +
                                  file("model.safetensors").sha256() + ", got sha256:",
                              0),
            0u)
      << e.message();
  EXPECT_TRUE(nothing_installed());
  EXPECT_FALSE(fs::exists(blob("model.safetensors")));
  EXPECT_FALSE(fs::exists(blob("model.safetensors").string() + ".incomplete"));
}

TEST_F(PullTest, FileLongerThanListedIsRefused) {
  FakeRepo r;
  r.id = "org/Long-4bit";
  r.refs["main"] = fake_commit(600);
  std::vector<RepoFile> files = tiny_mlx_repo(20000, 6);
  files[1].listed_size = 10000;  // model.safetensors: the hub sends twice what it listed
  r.trees[fake_commit(600)] = files;
  hub_.add_repo(r);
  const StoreError e = expect_store_error([&] { pull(r.id); });
  EXPECT_EQ(e.kind(), StoreErrorKind::DigestMismatch);
  EXPECT_NE(e.message().find("model.safetensors"), std::string::npos) << e.message();
  EXPECT_TRUE(store().list().empty());
  EXPECT_EQ(hub_.downloads("model.safetensors").size(), 3u);
}

TEST_F(PullTest, MissingRepoAndRevision) {
  StoreError e = expect_store_error([&] { pull("mlx-community/Does-Not-Exist"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotFound);
  EXPECT_EQ(e.message().rfind("pull model manifest: file does not exist", 0), 0u) << e.message();
  e = expect_store_error([&] { pull("hf.co/mlx-community/Tiny-4bit:no-such-branch"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotFound);
  e = expect_store_error([&] { pull("nosuchlibrarymodel"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotFound);
  EXPECT_NE(e.message().find("library"), std::string::npos);
  e = expect_store_error([&] { pull("registry.example.com/ns/model"); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotFound);
  EXPECT_TRUE(store().list().empty());
}

TEST_F(PullTest, GatedRepoNeedsHfToken) {
  FakeRepo gated;
  gated.id = "meta-llama/Gated-4bit";
  gated.refs["main"] = fake_commit(200);
  gated.trees[fake_commit(200)] = tiny_mlx_repo(5000, 3);
  gated.token = "hf_secret";
  hub_.add_repo(gated);

  StoreError e = expect_store_error([&] { pull(gated.id); });
  EXPECT_EQ(e.kind(), StoreErrorKind::Unauthorized);
  EXPECT_NE(e.message().find("gated"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("HF_TOKEN"), std::string::npos) << e.message();

  StoreConfig c = config();
  c.hub.token = "hf_wrong";
  auto wrong = Store::open(c);
  e = expect_store_error([&] { pull(gated.id, wrong.get()); });
  EXPECT_EQ(e.kind(), StoreErrorKind::Unauthorized);
  EXPECT_NE(e.message().find("does not have access"), std::string::npos) << e.message();
  EXPECT_TRUE(wrong->list().empty());

  c.hub.token = "hf_secret";
  auto right = Store::open(c);
  const ModelRecord r = pull(gated.id, right.get());
  EXPECT_EQ(r.repo, gated.id);
  bool saw_cdn = false;
  for (const testing::RequestLog& l : hub_.requests()) {
    if (l.path.find("/resolve/") != std::string::npos &&
        l.path.find("meta-llama") != std::string::npos) {
      EXPECT_EQ(l.auth, "Bearer hf_secret");
    }
    if (l.path.rfind("/cdn/", 0) == 0) {
      saw_cdn = true;
      EXPECT_EQ(l.auth, "") << "token leaked to the CDN host " << l.host;
    }
  }
  EXPECT_TRUE(saw_cdn);
}

TEST_F(PullTest, NonMlxReposAreRefusedWithAnAlternative) {
  FakeRepo gguf;
  gguf.id = "TheBloke/Foo-7B-GGUF";
  gguf.refs["main"] = fake_commit(300);
  gguf.trees[fake_commit(300)] = {{"README.md", "# gguf", false},
                                  {"foo-7b.Q4_K_M.gguf", std::string(1000, 'g'), true}};
  hub_.add_repo(gguf);
  FakeRepo torch;
  torch.id = "someone/Torch-Model";
  torch.refs["main"] = fake_commit(301);
  torch.trees[fake_commit(301)] = {{"config.json", R"({"model_type": "llama"})", false},
                                   {"pytorch_model.bin", std::string(1000, 'b'), true}};
  hub_.add_repo(torch);

  StoreError e = expect_store_error([&] { pull(gguf.id); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotMlx);
  EXPECT_NE(e.message().find("GGUF"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("mlx-community/Foo-7B-4bit"), std::string::npos) << e.message();
  e = expect_store_error([&] { pull(torch.id); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NotMlx);
  EXPECT_NE(e.message().find(".bin"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("mlx-community/Torch-Model-4bit"), std::string::npos);
  EXPECT_EQ(hub_.count("/resolve/"), 0u);
  EXPECT_TRUE(store().list().empty());
}

TEST_F(PullTest, ConcurrentPullsDownloadEachFileOnce) {
  hub_.set_chunk(8192, 1);
  hub_.block_downloads(true);
  auto other = Store::open(config());  // a second store, as another process would have
  std::exception_ptr e1, e2;
  std::thread a([&] {
    try {
      pull(kRepo);
    } catch (...) {
      e1 = std::current_exception();
    }
  });
  while (hub_.count("/cdn/") == 0) std::this_thread::sleep_for(2ms);
  std::thread b([&] {
    try {
      pull(kRepo, other.get());
    } catch (...) {
      e2 = std::current_exception();
    }
  });
  while (hub_.count("/tree/") < 2) std::this_thread::sleep_for(2ms);
  std::this_thread::sleep_for(50ms);  // let b reach the blob locks
  hub_.block_downloads(false);
  a.join();
  b.join();
  if (e1) std::rethrow_exception(e1);
  if (e2) std::rethrow_exception(e2);
  for (const std::string& p : kModelFiles) EXPECT_EQ(hub_.downloads(p).size(), 1u) << p;
  ASSERT_EQ(store().list().size(), 1u);
  EXPECT_EQ(other->list().size(), 1u);
  EXPECT_EQ(read_text(repo_dir() / "snapshots" / commit_ / "model.safetensors"),
            file("model.safetensors").content);
  // The same store from two threads.
  store().remove(kRepo);
  std::thread c([&] { pull(kRepo); });
  std::thread d([&] { pull(kRepo); });
  c.join();
  d.join();
  EXPECT_EQ(store().list().size(), 1u);
}

TEST_F(PullTest, CancelMidPullLeavesNothingListed) {
  hub_.set_chunk(4096, 2);
  std::atomic<bool> cancel{false};
  const std::string weights = "sha256:" + file("model.safetensors").sha256();
  const StoreError e = expect_store_error([&] {
    store().pull(
        kRepo,
        [&](const PullProgress& p) {
          if (p.digest == weights && p.completed > 0 && p.completed < p.total) cancel = true;
        },
        &cancel);
  });
  EXPECT_EQ(e.kind(), StoreErrorKind::Canceled);
  EXPECT_EQ(e.message(), "pull canceled");
  EXPECT_TRUE(nothing_installed());
  EXPECT_FALSE(store().find(kRepo));
  EXPECT_FALSE(fs::exists(blob("model.safetensors")));

  hub_.set_chunk(65536, 0);
  const ModelRecord r = pull(kRepo);
  const auto gets = hub_.downloads("model.safetensors");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[1].range.rfind("bytes=", 0), 0u);  // resumed, not restarted
  EXPECT_EQ(read_text(fs::path(r.dir) / "model.safetensors"), file("model.safetensors").content);
}

TEST_F(PullTest, DiskSpaceIsCheckedBeforeDownloading) {
  StoreConfig c = config();
  fs::path asked;
  c.free_space = [&](const fs::path& p) {
    asked = p;
    return uint64_t{1000};
  };
  auto s = Store::open(c);
  const StoreError e = expect_store_error([&] { pull(kRepo, s.get()); });
  EXPECT_EQ(e.kind(), StoreErrorKind::NoSpace);
  EXPECT_NE(e.message().find("not enough disk space"), std::string::npos) << e.message();
  EXPECT_EQ(asked, tmp_.path() / "hub");
  EXPECT_EQ(hub_.count("/resolve/"), 0u);
  EXPECT_TRUE(nothing_installed());
}

TEST_F(PullTest, LibraryNamesPullTheirMlxCommunityRepo) {
  FakeRepo llama;
  llama.id = "mlx-community/Llama-3.2-1B-Instruct-4bit";
  llama.refs["main"] = fake_commit(400);
  llama.trees[fake_commit(400)] = tiny_mlx_repo(2000, 4);
  hub_.add_repo(llama);
  const ModelRecord r = pull("llama3.2:1b");
  EXPECT_EQ(r.name, "llama3.2:1b");
  EXPECT_EQ(r.full_name, "registry.ollama.ai/library/llama3.2:1b");
  EXPECT_EQ(r.repo, llama.id);
  ASSERT_TRUE(store().find("LLAMA3.2:1B"));
  // The hub-cache copy is not listed a second time under its repo name.
  EXPECT_EQ(store().list().size(), 1u);
}

TEST_F(PullTest, HfNamesPickTheRevision) {
  const std::string v1 = fake_commit(101);
  FakeRepo r;
  r.id = kRepo;
  r.refs["main"] = commit_;
  r.refs["v1"] = v1;
  r.trees[commit_] = files_;
  r.trees[v1] = tiny_mlx_repo(1000, 2);
  hub_.add_repo(r);
  const ModelRecord m = pull("huggingface.co/mlx-community/Tiny-4bit:v1");
  EXPECT_EQ(m.name, "hf.co/mlx-community/Tiny-4bit:v1");
  EXPECT_EQ(m.revision, "v1");
  EXPECT_EQ(m.commit, v1);
  EXPECT_EQ(read_text(repo_dir() / "refs" / "v1"), v1);
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));
  const ModelRecord pinned = pull("hf.co/mlx-community/Tiny-4bit:" + commit_);
  EXPECT_EQ(pinned.commit, commit_);
  EXPECT_EQ(store().list().size(), 2u);
}

TEST_F(PullTest, RetriesWithBackoffAndRetryAfter) {
  hub_.fail("/revision/", 503, 2);
  hub_.fail("/tree/", 429, 1, /*retry_after=*/3);
  hub_.fail("/cdn/", 500, 1);
  pull(kRepo);
  ASSERT_EQ(sleeps_.size(), 4u);
  EXPECT_EQ(sleeps_[0], 1000ms);
  EXPECT_EQ(sleeps_[1], 2000ms);
  EXPECT_EQ(sleeps_[2], 4000ms);  // Retry-After: 3, plus one second as huggingface_hub does
  EXPECT_EQ(sleeps_[3], 1000ms);
}

TEST_F(PullTest, GivesUpAfterMaxAttempts) {
  StoreConfig c = config();
  c.hub.retry.max_attempts = 3;
  auto s = Store::open(c);
  hub_.fail("/revision/", 502, 100);
  const StoreError e = expect_store_error([&] { pull(kRepo, s.get()); });
  EXPECT_EQ(e.kind(), StoreErrorKind::Network);
  EXPECT_NE(e.message().find("502"), std::string::npos) << e.message();
  EXPECT_EQ(sleeps_.size(), 2u);
  EXPECT_EQ(hub_.count("/revision/"), 3u);
}

TEST_F(PullTest, FollowsTreePagesAndEndpointSlash) {
  hub_.set_page_size(2);
  StoreConfig c = config();
  c.hub.endpoint += "/";
  auto s = Store::open(c);
  const ModelRecord r = pull(kRepo, s.get());
  EXPECT_GE(hub_.count("/tree/"), 5u);
  for (const std::string& p : kModelFiles) EXPECT_TRUE(fs::exists(fs::path(r.dir) / p)) << p;
}

TEST_F(PullTest, OfflineAndUnreachableHubUseTheCache) {
  const ModelRecord first = pull(kRepo);
  const size_t before = hub_.requests().size();
  StoreConfig c = config();
  c.offline = true;
  c.models_dir = tmp_.path() / "models2";
  auto offline = Store::open(c);
  const ModelRecord r = pull(kRepo, offline.get());
  EXPECT_EQ(r.commit, first.commit);
  EXPECT_EQ(r.dir, first.dir);
  EXPECT_EQ(hub_.requests().size(), before);

  c.offline = false;
  c.models_dir = tmp_.path() / "models3";
  c.hub.endpoint = "http://127.0.0.1:1";  // nothing listens there
  c.hub.retry.max_attempts = 2;
  auto unreachable = Store::open(c);
  EXPECT_EQ(pull(kRepo, unreachable.get()).commit, first.commit);
  const StoreError e =
      expect_store_error([&] { pull("mlx-community/Other-4bit", unreachable.get()); });
  EXPECT_EQ(e.kind(), StoreErrorKind::Network);
}

TEST_F(PullTest, RepullWhileTheModelIsMapped) {
  const ModelRecord old = pull(kRepo);
  auto weights = format::WeightSet::open(old.dir);
  const std::string before(reinterpret_cast<const char*>(weights.get("w").data), 64);
  // The repo moves on: main now names a new commit with new weights.
  const std::string next = fake_commit(102);
  FakeRepo r;
  r.id = kRepo;
  r.refs["main"] = next;
  r.trees[commit_] = files_;
  r.trees[next] = tiny_mlx_repo(300000, 9);
  hub_.add_repo(r);
  const ModelRecord updated = pull(kRepo);
  EXPECT_EQ(updated.commit, next);
  EXPECT_NE(updated.digest, old.digest);
  EXPECT_EQ(store().list().size(), 1u);
  // The mapped files of the old snapshot are untouched.
  EXPECT_TRUE(fs::exists(old.dir));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(weights.get("w").data), 64), before);
  EXPECT_EQ(read_text(repo_dir() / "refs" / "main"), next);
}

TEST_F(PullTest, WithoutSymlinksSnapshotsHoldFiles) {
  StoreConfig c = config();
  c.disable_symlinks = true;
  auto s = Store::open(c);
  const ModelRecord r = pull(kRepo, s.get());
  for (const std::string& p : kModelFiles) {
    EXPECT_FALSE(fs::is_symlink(fs::path(r.dir) / p));
    EXPECT_EQ(read_text(fs::path(r.dir) / p), file(p).content);
  }
  s->remove(kRepo);
  EXPECT_FALSE(fs::exists(repo_dir()));
}

TEST(PullPlan, LibraryAndHubNamesMapToRepos) {
  auto src = resolve_source(Name::parse("llama3.2"));
  EXPECT_EQ(src.repo, "mlx-community/Llama-3.2-3B-Instruct-4bit");
  EXPECT_EQ(src.revision, "main");
  src = resolve_source(Name::parse("mlx-community/Foo-4bit"));
  EXPECT_EQ(src.repo, "mlx-community/Foo-4bit");
  EXPECT_EQ(src.revision, "main");
  src = resolve_source(Name::parse("hf.co/org/Repo:v2.1"));
  EXPECT_EQ(src.repo, "org/Repo");
  EXPECT_EQ(src.revision, "v2.1");
  // Valid Ollama names that are not valid Hugging Face repo ids.
  EXPECT_EQ(expect_store_error([] { resolve_source(Name::parse("org/repo.git")); }).kind(),
            StoreErrorKind::InvalidName);
  EXPECT_EQ(expect_store_error([] { resolve_source(Name::parse("org/a--b")); }).kind(),
            StoreErrorKind::InvalidName);
}

TEST(PullPlan, SelectsWhatAnMlxModelNeeds) {
  auto entry = [](std::string path) {
    TreeEntry e;
    e.path = std::move(path);
    e.oid = std::string(40, 'a');
    return e;
  };
  std::vector<TreeEntry> tree;
  for (const char* p :
       {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "consolidated.safetensors", "tokenizer.json",
        "tokenizer.model", "merges.txt", "vocab.json", "chat_template.jinja", "added_tokens.json",
        "qwen.tiktoken", "README.md", ".gitattributes", "LICENSE", "original/consolidated.pth",
        "images/logo.png", "pytorch_model.bin"})
    tree.push_back(entry(p));
  std::vector<std::string> kept;
  for (const TreeEntry& e : select_model_files("org/repo", tree)) kept.push_back(e.path);
  const std::vector<std::string> want = {"config.json",
                                         "model-00001-of-00002.safetensors",
                                         "model-00002-of-00002.safetensors",
                                         "model.safetensors.index.json",
                                         "tokenizer.json",
                                         "tokenizer.model",
                                         "merges.txt",
                                         "vocab.json",
                                         "chat_template.jinja",
                                         "added_tokens.json",
                                         "qwen.tiktoken"};
  EXPECT_EQ(kept, want);
  // Without model*.safetensors every safetensors file is the model.
  std::vector<TreeEntry> other = {entry("config.json"), entry("weights.safetensors")};
  EXPECT_EQ(select_model_files("org/repo", other).size(), 2u);
  std::vector<TreeEntry> no_config = {entry("model.safetensors")};
  EXPECT_EQ(expect_store_error([&] { select_model_files("org/repo", no_config); }).kind(),
            StoreErrorKind::NotMlx);
}

TEST(HubClientRetry, BackoffDoublesUpToTheCapAndHonoursTheHub) {
  HubOptions opts;
  opts.retry.sleep = [](std::chrono::milliseconds) {};
  HubClient hub(opts, nullptr);
  HttpResponse plain;
  plain.status = 503;
  std::vector<int64_t> waits;
  for (int attempt = 1; attempt <= 6; ++attempt)
    waits.push_back(hub.backoff(attempt, plain).count());
  EXPECT_EQ(waits, (std::vector<int64_t>{1000, 2000, 4000, 8000, 8000, 8000}));
  HttpResponse limited;
  limited.status = 429;
  limited.headers["ratelimit"] = "\"api\";r=0;t=17";
  EXPECT_EQ(hub.backoff(1, limited).count(), 18000);
  HttpResponse after;
  after.status = 503;
  after.headers["retry-after"] = "5";
  EXPECT_EQ(hub.backoff(3, after).count(), 6000);
  EXPECT_TRUE(HubClient::retryable(plain));
  HttpResponse gone;
  gone.status = 404;
  EXPECT_FALSE(HubClient::retryable(gone));
  HttpResponse refused;
  refused.curl_code = 7;  // CURLE_COULDNT_CONNECT
  EXPECT_TRUE(HubClient::retryable(refused));
  EXPECT_EQ(hub.resolve_url("org/repo", "refs/pr/1", "sub dir/model.safetensors"),
            "https://huggingface.co/org/repo/resolve/refs%2Fpr%2F1/sub%20dir/model.safetensors");
}

TEST_F(PullTest, HostileFileListsAreRefused) {
  FakeRepo evil;
  evil.id = "evil/Model-4bit";
  evil.refs["main"] = fake_commit(500);
  std::vector<RepoFile> files = tiny_mlx_repo(1000, 5);
  files.push_back({"../../../../escape.json", "{}", false});
  evil.trees[fake_commit(500)] = files;
  hub_.add_repo(evil);
  const StoreError e = expect_store_error([&] { pull(evil.id); });
  EXPECT_EQ(e.kind(), StoreErrorKind::Network);
  EXPECT_NE(e.message().find("invalid entry"), std::string::npos) << e.message();
  EXPECT_FALSE(fs::exists(tmp_.path() / "escape.json"));
  EXPECT_EQ(hub_.count("/resolve/"), 0u);
}

}  // namespace
}  // namespace ollmlx::store
