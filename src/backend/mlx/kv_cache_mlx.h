// The MLX backend's KV cache: the CPU cache's layout rules (backend/cpu/kv_cache_cpu.h) with MLX
// arrays as storage. Per slot and layer, keys and values are arrays [1, n_kv_heads, capacity,
// head_dim] of the cache dtype (the layout mlx-lm's KVCache keeps):
//  * full-attention layers: position p at row p; capacity grows in steps of 256 positions up to
//    max_context (a concatenation, as mlx-lm's KVCache grows);
//  * sliding-window layers: a ring of window + max_chunk rows, position p at row p % capacity;
//    `ring_pos` remembers which position each row holds, so a rewind past what the ring still
//    keeps is an Error("kv_cache") instead of attention over the wrong keys.
// New storage is filled with NaN, so reading a position that was never written shows up.
// Writes are lazy slice_updates that replace the stored array (MLX updates the buffer in place
// when it evaluates them, since the cache held the only reference).
#pragma once

#include <optional>
#include <vector>

#include "backend/kv_cache.h"
#include "backend/mlx/mlx_tensor.h"

namespace ollmlx::mlxb {

class MlxKvCache final : public KvCache {
 public:
  MlxKvCache(const KvCacheSpec& spec, mx::Stream stream);

  int alloc_seq() override;
  void free_seq(int slot) override;
  int32_t seq_len(int slot) const override;
  void set_len(int slot, int32_t len) override;
  size_t bytes() const override;

  struct Fetched {
    mx::array k, v;     // [1, n_kv_heads, n, head_dim] keys/values of positions [first, end)
    int32_t first = 0;  // position of the first key returned
  };
  // Writes k/v [1, n_kv_heads, count, head_dim] (cache dtype) of positions [pos0, pos0 + count)
  // into (slot, layer) and returns the keys/values the queries of those positions attend to:
  // positions [0, pos0 + count) (full layers) or [max(0, pos0 - window + 1), pos0 + count)
  // (sliding layers), in position order. Throws Error("kv_cache") as the CPU cache does.
  Fetched write_and_fetch(int slot, int layer, int32_t pos0, const mx::array& k, const mx::array& v);
  // The arrays of (slot, layer) after its latest write (for evaluation with the pass).
  std::vector<mx::array> stored(int slot, int layer) const;

 private:
  struct Store {
    std::optional<mx::array> k, v;  // [1, n_kv_heads, capacity, head_dim]
    int32_t capacity = 0;
    int32_t written = 0;            // full layers: positions [0, written) were written
    std::vector<int32_t> ring_pos;  // sliding layers: position held by each row, -1 = none
  };
  void check_slot(int slot) const;
  void reserve(Store& s, int layer, int32_t end);

  mx::Stream stream_;
  mx::Dtype dtype_;
  std::vector<bool> used_;
  std::vector<int32_t> len_;
  std::vector<std::vector<Store>> stores_;  // [slot][layer]
};

}  // namespace ollmlx::mlxb
