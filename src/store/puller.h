// The pull algorithm: a model name -> Hugging Face repo + revision -> commit -> file list ->
// the files an MLX model needs -> free-space check -> parallel verified downloads into the hub
// cache -> snapshot links and refs. The caller (Store::pull) writes the manifest last, so an
// interrupted or failed pull never leaves a model that is listed or loadable.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "store/hf_cache.h"
#include "store/hub_client.h"
#include "store/manifest.h"
#include "store/names.h"

namespace ollmlx::store {

struct StoreConfig;
struct PullProgress;

struct HubSource {
  std::string repo;      // "org/name"
  std::string revision;  // branch, tag or commit ("main" for tag "latest")
};

// Library names ("llama3.2:1b") through the table; "org/repo[:rev]" and "hf.co/org/repo[:rev]"
// directly. Throws StoreError(NotFound) for an unknown library name or a non-Hugging-Face host.
HubSource resolve_source(const Name& name);

// The files of `tree` an MLX model needs: top-level model*.safetensors (or every *.safetensors
// when none is named model*), *.json, *.jinja, *.txt, *.jsonl, tokenizer.model, *.tiktoken.
// Throws StoreError(NotMlx) for a repo without safetensors weights or config.json, naming what
// to pull instead.
std::vector<TreeEntry> select_model_files(const std::string& repo,
                                          const std::vector<TreeEntry>& tree);

// Brings `source` into the hub cache (or, offline or with the hub unreachable, takes it from
// there) and returns the manifest describing it (not written). Reports progress per §1.9 from
// the per-file lines up to "verifying sha256 digest" (Store::pull reports "pulling manifest").
Manifest pull_to_cache(const StoreConfig& config, const HubCache& cache, const HubSource& source,
                       const std::function<void(const PullProgress&)>& progress,
                       const std::atomic<bool>* cancel);

}  // namespace ollmlx::store
