// The CPU backend's KV cache, declared here because the attention kernel reads and writes its
// storage directly. Per slot and layer, keys and values are stored in spec.dtype (F32/F16/BF16)
// as [n_kv_heads][capacity][head_dim]:
//  * full-attention layers: position p at row p; capacity grows in steps of 256 positions up to
//    max_context (a write beyond it throws Error("kv_cache"));
//  * sliding-window layers: a ring of window + max_chunk rows, position p at row p % capacity;
//    `ring_pos` remembers which position each row holds so attention can tell whether the history
//    a query needs is still there (it is not after rewinding further back than max_chunk).
// Storage is allocated on the first write and filled with NaN bit patterns, so reading a position
// that was never written shows up as NaN instead of plausible garbage.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/kv_cache.h"

namespace ollmlx::cpu {

class CpuKvCache final : public KvCache {
 public:
  explicit CpuKvCache(const KvCacheSpec& spec);

  int alloc_seq() override;
  void free_seq(int slot) override;
  int32_t seq_len(int slot) const override;
  void set_len(int slot, int32_t len) override;
  size_t bytes() const override;

  // Storage of one (slot, layer).
  struct Store {
    std::unique_ptr<uint8_t[]> k, v;  // [n_kv_heads][capacity][head_dim] elements of spec.dtype
    int32_t capacity = 0;             // rows per head; 0 = not allocated yet
    int32_t written = 0;              // full layers: positions [0, written) have been written
    std::vector<int32_t> ring_pos;    // sliding layers: [capacity] position held by each row, -1
  };

  // Prepares (slot, layer) for writing positions [pos0, pos0 + count): checks the slot, the
  // context limit, the chunk limit of sliding layers and (sliding layers) that the history
  // [pos0 - window + 1, pos0) is still stored; allocates or grows the storage. Throws
  // Error("kv_cache").
  Store& prepare_write(int slot, int layer, int32_t pos0, int32_t count);
  // Stores k and v [n_kv_heads * head_dim] of position `pos` (rounded to the storage dtype).
  void write_row(Store& s, int layer, int32_t pos, const float* k, const float* v);
  const Store& store(int slot, int layer) const;
  // Storage row of position `pos` in a store of `layer`.
  int32_t row_of(int layer, int32_t pos, const Store& s) const {
    return spec_.layers[static_cast<size_t>(layer)].window > 0 ? pos % s.capacity : pos;
  }
  size_t elem_size() const { return elem_size_; }

 private:
  void check_slot(int slot) const;
  void reserve(Store& s, int layer, int32_t end);

  size_t elem_size_ = 4;
  std::vector<bool> used_;
  std::vector<int32_t> len_;
  std::vector<std::vector<Store>> stores_;  // [slot][layer]
};

}  // namespace ollmlx::cpu
