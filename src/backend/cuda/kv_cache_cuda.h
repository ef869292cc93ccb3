// The CUDA backend's KV cache: the CPU cache's layout and rules (cpu/kv_cache_cpu.h) with the
// storage in device memory. Per slot and layer, keys and values in spec.dtype (F32/F16/BF16) as
// [n_kv_heads][capacity][head_dim] (with spec.q8_0: each row as ceil(head_dim / 32) blocks of a
// float32 scale and 32 int8 values, kQ8BlockBytes each):
//  * full-attention layers: position p at row p; capacity grows (doubling, at least 256 rows)
//    up to max_context; growing copies the stored rows to the new storage;
//  * sliding-window layers: a ring of window + max_chunk rows, position p at row p % capacity;
//    `ring_pos` (host) remembers which position each row holds, so a rewind further back than
//    the ring keeps is an error instead of silently wrong attention.
// New storage is filled with NaN bit patterns, so reading a position never written shows up.
// Bookkeeping is on the host; the attention op enqueues the writes on the backend's stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/kv_cache.h"

namespace ollmlx::cuda {

class CudaKvCache final : public KvCache {
 public:
  CudaKvCache(const KvCacheSpec& spec, cudaStream_t stream);
  ~CudaKvCache() override;

  int alloc_seq() override;
  void free_seq(int slot) override;
  int32_t seq_len(int slot) const override;
  void set_len(int slot, int32_t len) override;
  size_t bytes() const override;

  struct Store {
    void* k = nullptr;  // device [n_kv_heads][capacity][head_dim] of spec.dtype
    void* v = nullptr;
    int32_t capacity = 0;
    int32_t written = 0;           // full layers: positions [0, written) were written
    std::vector<int32_t> ring_pos;  // sliding layers: position held by each row, -1 = none
  };

  // Prepares (slot, layer) for writing positions [pos0, pos0 + count) (same checks as the CPU
  // cache); allocates or grows the storage and records the ring positions. Throws
  // Error("kv_cache").
  Store& prepare_write(int slot, int layer, int32_t pos0, int32_t count);
  size_t elem_size() const { return elem_size_; }
  // Bytes of one head's row of keys (or values).
  size_t row_bytes(int head_dim) const;

 private:
  void check_slot(int slot) const;
  void reserve(Store& s, int layer, int32_t end);
  void free_deferred();

  cudaStream_t stream_;
  cudaStream_t side_ = nullptr;        // growth while the backend's stream is capturing a graph
  std::vector<void*> deferred_free_;  // storage replaced during a capture, freed after it
  size_t elem_size_ = 4;
  std::vector<bool> used_;
  std::vector<int32_t> len_;
  std::vector<std::vector<Store>> stores_;  // [slot][layer]
};

}  // namespace ollmlx::cuda
