// Per-sequence key/value caches for every layer, owned by a backend. Sequences live in slots;
// the attention op appends the keys/values of a forward pass's rows at their positions and
// attends over the cache. Layers with a sliding window keep only the last `window` positions
// (a rotating buffer), as mlx-lm's RotatingKVCache does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace ollmlx {

struct KvLayerSpec {
  int n_kv_heads = 0;
  int head_dim = 0;
  int window = 0;  // 0 = full causal attention; >0 = each query sees the last `window` keys
};

struct KvCacheSpec {
  std::vector<KvLayerSpec> layers;
  DType dtype = DType::F32;  // storage type (the model's activation dtype)
  int max_seqs = 1;          // slots
  int max_context = 4096;    // positions per sequence (full layers); requests beyond it fail
  int max_chunk = 512;       // most rows one sequence adds in one forward pass
  // Keys and values stored as llama.cpp's q8_0 does (OLLAMA_KV_CACHE_TYPE=q8_0): blocks of 32
  // values of a head's row as int8 q = round(x / d), d = max|x| / 127 (a float32 per block).
  // Only the cuda backend implements it; the others refuse such a spec.
  bool q8_0 = false;
};

class KvCache {
 public:
  virtual ~KvCache() = default;
  const KvCacheSpec& spec() const { return spec_; }

  // Reserves a free slot (throws Error("kv_cache") if none is free).
  virtual int alloc_seq() = 0;
  virtual void free_seq(int slot) = 0;
  // Number of positions stored for `slot` (the next forward pass must start there).
  virtual int32_t seq_len(int slot) const = 0;
  // Marks positions [0, len) as the valid history after a forward pass wrote them.
  virtual void set_len(int slot, int32_t len) = 0;
  // Bytes of cache storage currently allocated.
  virtual size_t bytes() const = 0;

 protected:
  explicit KvCache(KvCacheSpec spec) : spec_(std::move(spec)) {}
  KvCacheSpec spec_;
};

}  // namespace ollmlx
