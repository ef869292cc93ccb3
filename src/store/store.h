// The model store: what `ollmlx list/show/cp/rm/pull` and the server's /api/tags, /api/show,
// /api/copy, /api/delete, /api/pull and /api/create (with `from`) work on.
//
// Where things live (docs/STORE.md has the details):
//   - weights: the standard Hugging Face hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
//     ~/.cache/huggingface/hub), shared with mlx-lm and huggingface_hub;
//   - names: ollmlx manifests under $OLLMLX_MODELS (default ~/.ollmlx/models), one per model
//     name, mapping it to a repo + commit and a Modelfile layer. $OLLAMA_MODELS is never written.
//   - an MLX model already in the hub cache (refs/main of a repo whose snapshot has config.json
//     and MLX safetensors) that no manifest points at is listed as "<org>/<repo>:latest" as-is,
//     with no manifest written; cp/create from it writes one.
//
// Errors: every failure is a StoreError (store_error.h) whose kind() tells the server which
// status to answer and whose message() is the text for {"error": ...}:
//   find/pull/create, unparsable name   InvalidName  "invalid model name"
//   copy, unparsable source/destination InvalidName  `source "x" is invalid` /
//                                                    `destination "x" is invalid`
//   copy, unknown source                NotFound     `model "x" not found`
//   remove, unparsable name             InvalidName  `name "x" is invalid`
//   remove, unknown name                NotFound     `model 'x' not found`
//   pull, no such model/repo/revision   NotFound     "pull model manifest: file does not exist..."
//   pull, gated/private repo            Unauthorized (message names HF_TOKEN)
//   pull, GGUF-only or .bin-only repo   NotMlx       (message names what to pull instead)
//   pull, not enough disk               NoSpace
//   pull, bytes never verify            DigestMismatch "digest mismatch, file must be downloaded
//                                                      again: want sha256:..., got sha256:..."
//   pull, hub unreachable after retries Network
//   pull, cancel flag set               Canceled     "pull canceled"
// (x is the name exactly as the caller gave it, quoted as Go's %q where Ollama uses %q.)
//
// Thread safety: a Store may be used from several threads at once; mutations are serialised
// inside the process, and concurrent pulls of the same model (threads or processes) download
// each file once (flock on the hub cache's .locks files).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/hub_client.h"
#include "store/store_error.h"

namespace ollmlx::store {

struct StoreConfig {
  std::filesystem::path models_dir;  // ollmlx manifests: $OLLMLX_MODELS or ~/.ollmlx/models
  std::filesystem::path hub_cache;   // $HF_HUB_CACHE | $HUGGINGFACE_HUB_CACHE | $HF_HOME/hub |
                                     // $XDG_CACHE_HOME/huggingface/hub | ~/.cache/huggingface/hub
  HubOptions hub;                    // endpoint ($HF_ENDPOINT), token ($HF_TOKEN,
                                     // $HUGGING_FACE_HUB_TOKEN, $HF_TOKEN_PATH, $HF_HOME/token),
                                     // retry policy and timeouts
  bool disable_symlinks = false;     // $HF_HUB_DISABLE_SYMLINKS: hard links/copies in snapshots/
  bool offline = false;              // $HF_HUB_OFFLINE: pull only from what the cache holds
  int max_parallel = 4;              // concurrent file transfers per pull
  std::chrono::milliseconds progress_interval{60};  // per-file progress throttle
  // Free bytes on the filesystem holding a path (default: statvfs). Tests inject their own.
  std::function<uint64_t(const std::filesystem::path&)> free_space;

  static StoreConfig from_env();
};

struct ModelRecord {
  std::string name;       // display-shortest: "llama3.2:latest", "mlx-community/Foo:latest",
                          // "hf.co/org/repo:main"
  std::string full_name;  // "registry.ollama.ai/library/llama3.2:latest"
  std::string repo;       // "mlx-community/Llama-3.2-3B-Instruct-4bit" ("" for a local import)
  std::string revision;   // what was asked for: "main", a branch/tag, or a commit
  std::string commit;     // 40-hex commit the snapshot is ("" for a local import)
  std::string dir;        // the model directory (snapshot with config.json): load from here
  std::string digest;     // 64 hex, sha256 of the manifest bytes (no "sha256:" prefix)
  int64_t size = 0;       // bytes of the model's files
  std::chrono::system_clock::time_point modified_at;  // manifest mtime (pull/copy/create time)
  // The Modelfile layer: {template?, system?, parameters?, messages?, license?}; {} when the
  // model's own files (chat template, generation_config.json) are to be used as they are.
  nlohmann::ordered_json modelfile = nlohmann::ordered_json::object();
  bool from_hub_cache_only = false;  // listed from the hub cache, no manifest written yet
};

// One progress event of a pull, shaped for /api/pull (compat spec §1.9):
//   {"status":"pulling manifest"}
//   {"status":"pulling <12 hex>","digest":"sha256:<64 hex>","total":N[,"completed":M]}  per file
//   {"status":"verifying sha256 digest"} {"status":"writing manifest"} {"status":"success"}
// `digest` is "sha256:<lfs sha256>" for LFS files (weights) and "sha1:<git blob id>" for small
// files kept in git (config, tokenizer); the 12 hex of the status are the start of that id.
// Per-file events come every ~60 ms while bytes arrive, and once with completed == total.
struct PullProgress {
  std::string status;
  std::string digest;
  int64_t total = 0;
  int64_t completed = 0;
};
// The /api/pull line: digest, total and completed are left out while empty or 0.
nlohmann::ordered_json to_json(const PullProgress& p);

class Store {
 public:
  // Creates $models_dir/manifests if needed. An empty models_dir or hub_cache (and a missing
  // free_space) is taken from the environment (StoreConfig::from_env). Throws StoreError(Io).
  static std::unique_ptr<Store> open(StoreConfig config = StoreConfig::from_env());

  // Every model, newest first (ties by name). Unreadable manifests are skipped with a warning.
  std::vector<ModelRecord> list();
  // The model `name` refers to (case-insensitive), or nullopt. A name with @digest matches only
  // that digest. Throws StoreError(InvalidName) if `name` does not parse, StoreError(Corrupt) if
  // its manifest is unreadable.
  std::optional<ModelRecord> find(std::string_view name);
  // Writes a manifest for `dst` with the source's weights and Modelfile layer (Ollama's cp).
  void copy(std::string_view src, std::string_view dst);
  // Deletes the name's manifest; then, when no other manifest uses its snapshot, the snapshot,
  // the refs naming it and the blobs no other snapshot of the repo links to.
  void remove(std::string_view name);
  // Pulls `name` from Hugging Face (library names through the table, "org/repo[:rev]" and
  // "hf.co/org/repo[:rev]" directly; tag "latest" = revision "main"). `progress` is called on the
  // calling thread only; `cancel` (may be null) stops the pull: nothing is listed then, and
  // partial files stay for the next pull to resume. Returns the installed model.
  ModelRecord pull(std::string_view name, const std::function<void(const PullProgress&)>& progress,
                   const std::atomic<bool>* cancel = nullptr);
  // A new name for `from`'s weights with its Modelfile layer overridden by `modelfile_layer`
  // (keys replace, except "parameters", merged key by key; a null value removes the key).
  // `from` is a record from find/list, or, with `from.repo` empty, a local model
  // directory `from.dir` (for importers). Throws StoreError(InvalidName) for a bad `name`.
  ModelRecord create(std::string_view name, const ModelRecord& from,
                     const nlohmann::ordered_json& modelfile_layer);

  const StoreConfig& config() const { return config_; }

 private:
  explicit Store(StoreConfig config);
  struct Impl;
  StoreConfig config_;
  std::shared_ptr<Impl> impl_;
  std::mutex mu_;
};

}  // namespace ollmlx::store
