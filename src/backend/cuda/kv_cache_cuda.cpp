// The CUDA KV cache (kv_cache_cuda.h): slot bookkeeping and ring rules as the CPU cache, storage
// in device memory.
#include "backend/cuda/kv_cache_cuda.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "backend/cuda/kernels.h"
#include "util/error.h"

namespace ollmlx::cuda {

namespace {
constexpr int32_t kMinGrow = 256;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_error("kv_cache", "{}: {}", what, cudaGetErrorString(e));
}
}  // namespace

CudaKvCache::CudaKvCache(const KvCacheSpec& spec, cudaStream_t stream)
    : KvCache(spec), stream_(stream) {
  if (spec_.dtype != DType::F32 && spec_.dtype != DType::F16 && spec_.dtype != DType::BF16)
    throw_error("kv_cache", "storage dtype must be F32, F16 or BF16, not {}",
                dtype_name(spec_.dtype));
  if (spec_.max_seqs < 1 || spec_.max_context < 1 || spec_.max_chunk < 1)
    throw_error("kv_cache", "bad spec: {} slots, context {}, chunk {}", spec_.max_seqs,
                spec_.max_context, spec_.max_chunk);
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    const KvLayerSpec& l = spec_.layers[i];
    if (l.n_kv_heads < 1 || l.head_dim < 1 || l.window < 0)
      throw_error("kv_cache", "layer {}: bad spec ({} kv heads, head_dim {}, window {})", i,
                  l.n_kv_heads, l.head_dim, l.window);
  }
  elem_size_ = dtype_size(spec_.dtype);
  const auto n = static_cast<size_t>(spec_.max_seqs);
  used_.assign(n, false);
  len_.assign(n, 0);
  stores_.resize(n);
  for (auto& s : stores_) s.resize(spec_.layers.size());
}

CudaKvCache::~CudaKvCache() {
  cudaStreamSynchronize(stream_);
  free_deferred();
  if (side_) cudaStreamDestroy(side_);
  for (auto& slot : stores_)
    for (Store& s : slot) {
      if (s.k) cudaFree(s.k);
      if (s.v) cudaFree(s.v);
    }
}

int CudaKvCache::alloc_seq() {
  for (size_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      used_[i] = true;
      len_[i] = 0;
      return static_cast<int>(i);
    }
  }
  throw_error("kv_cache", "all {} sequence slots are in use", spec_.max_seqs);
}

void CudaKvCache::check_slot(int slot) const {
  if (slot < 0 || slot >= spec_.max_seqs || !used_[static_cast<size_t>(slot)])
    throw_error("kv_cache", "slot {} is not allocated (slots 0..{})", slot, spec_.max_seqs - 1);
}

void CudaKvCache::free_seq(int slot) {
  check_slot(slot);
  const auto i = static_cast<size_t>(slot);
  used_[i] = false;
  len_[i] = 0;
  // Storage is kept for the next sequence in this slot (no reallocation per request); only the
  // bookkeeping is reset.
  for (Store& s : stores_[i]) {
    s.written = 0;
    std::fill(s.ring_pos.begin(), s.ring_pos.end(), -1);
  }
}

int32_t CudaKvCache::seq_len(int slot) const {
  check_slot(slot);
  return len_[static_cast<size_t>(slot)];
}

void CudaKvCache::set_len(int slot, int32_t len) {
  check_slot(slot);
  if (len < 0 || len > spec_.max_context)
    throw_error("kv_cache", "slot {}: length {} outside the context of {} tokens", slot, len,
                spec_.max_context);
  len_[static_cast<size_t>(slot)] = len;
}

void CudaKvCache::free_deferred() {
  for (void* p : deferred_free_) cudaFree(p);
  deferred_free_.clear();
}

size_t CudaKvCache::bytes() const {
  size_t n = 0;
  for (const auto& slot : stores_) {
    for (size_t l = 0; l < slot.size(); ++l) {
      const KvLayerSpec& ls = spec_.layers[l];
      n += 2 * static_cast<size_t>(slot[l].capacity) * static_cast<size_t>(ls.n_kv_heads) *
           row_bytes(ls.head_dim);
    }
  }
  return n;
}

size_t CudaKvCache::row_bytes(int head_dim) const {
  if (spec_.q8_0) return static_cast<size_t>((head_dim + kQ8Block - 1) / kQ8Block) * kQ8BlockBytes;
  return static_cast<size_t>(head_dim) * elem_size_;
}

void CudaKvCache::reserve(Store& s, int layer, int32_t end) {
  const KvLayerSpec& ls = spec_.layers[static_cast<size_t>(layer)];
  int32_t want;
  if (ls.window > 0) {
    if (s.capacity > 0) return;
    want = ls.window + spec_.max_chunk;
  } else {
    if (end <= s.capacity) return;
    int64_t grow = std::max<int64_t>({int64_t{end}, int64_t{s.capacity} * 2, kMinGrow});
    grow = (grow + kMinGrow - 1) / kMinGrow * kMinGrow;
    want = static_cast<int32_t>(std::min<int64_t>(grow, spec_.max_context));
  }
  const size_t row = row_bytes(ls.head_dim);
  const size_t heads = static_cast<size_t>(ls.n_kv_heads);
  const size_t total = heads * static_cast<size_t>(want) * row;
  // While the backend records a CUDA graph, the stream is capturing: the storage is prepared on
  // a side stream instead (the old rows were written by earlier, finished passes) and the old
  // buffers are freed after the capture, so nothing of the growth becomes part of the graph.
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream_, &capture), "cudaStreamIsCapturing");
  const bool capturing = capture != cudaStreamCaptureStatusNone;
  if (capturing && !side_) check(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking), "cudaStreamCreate");
  cudaStream_t st = capturing ? side_ : stream_;
  if (!capturing) free_deferred();
  void* fresh[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    const cudaError_t e = cudaMalloc(&fresh[i], total);
    if (e != cudaSuccess) {
      cudaGetLastError();
      if (fresh[0]) cudaFree(fresh[0]);
      throw_error("kv_cache", "out of GPU memory: {} bytes for the cache of layer {} ({})", total,
                  layer, cudaGetErrorString(e));
    }
    check(cudaMemsetAsync(fresh[i], 0xff, total, st), "cudaMemsetAsync");  // NaN (q8_0: NaN scales)
  }
  if (s.k) {
    const size_t old_pitch = static_cast<size_t>(s.capacity) * row;
    const size_t new_pitch = static_cast<size_t>(want) * row;
    check(cudaMemcpy2DAsync(fresh[0], new_pitch, s.k, old_pitch, old_pitch, heads,
                            cudaMemcpyDeviceToDevice, st),
          "cudaMemcpy2DAsync");
    check(cudaMemcpy2DAsync(fresh[1], new_pitch, s.v, old_pitch, old_pitch, heads,
                            cudaMemcpyDeviceToDevice, st),
          "cudaMemcpy2DAsync");
  }
  if (s.k || capturing) check(cudaStreamSynchronize(st), "cudaStreamSynchronize");
  if (s.k) {
    if (capturing) {
      deferred_free_.push_back(s.k);
      deferred_free_.push_back(s.v);
    } else {
      cudaFree(s.k);
      cudaFree(s.v);
    }
  }
  s.k = fresh[0];
  s.v = fresh[1];
  if (ls.window > 0) s.ring_pos.assign(static_cast<size_t>(want), -1);
  s.capacity = want;
}

CudaKvCache::Store& CudaKvCache::prepare_write(int slot, int layer, int32_t pos0, int32_t count) {
  check_slot(slot);
  if (layer < 0 || static_cast<size_t>(layer) >= spec_.layers.size())
    throw_error("kv_cache", "layer {} outside the {} cached layers", layer, spec_.layers.size());
  const int32_t len = len_[static_cast<size_t>(slot)];
  if (count < 1 || pos0 < 0 || pos0 > len)
    throw_error("kv_cache", "slot {}: cannot write {} positions at {}: {} are stored", slot, count,
                pos0, len);
  const int64_t end = int64_t{pos0} + count;
  if (end > spec_.max_context)
    throw_error("kv_cache", "slot {}: context of {} tokens exceeded (writing up to position {})",
                slot, spec_.max_context, end - 1);
  const KvLayerSpec& ls = spec_.layers[static_cast<size_t>(layer)];
  Store& s = stores_[static_cast<size_t>(slot)][static_cast<size_t>(layer)];
  if (ls.window > 0) {
    if (count > spec_.max_chunk)
      throw_error("kv_cache", "slot {}: {} rows in one pass exceed the chunk limit of {}", slot,
                  count, spec_.max_chunk);
    reserve(s, layer, static_cast<int32_t>(end));
    for (int32_t j = std::max(0, pos0 - ls.window + 1); j < pos0; ++j) {
      if (s.ring_pos[static_cast<size_t>(j % s.capacity)] != j)
        throw_error("kv_cache",
                    "slot {} layer {}: sliding-window history at position {} is no longer stored "
                    "(rewound more than max_chunk = {} positions behind the furthest write)",
                    slot, layer, j, spec_.max_chunk);
    }
    for (int32_t p = pos0; p < end; ++p) s.ring_pos[static_cast<size_t>(p % s.capacity)] = p;
  } else {
    if (pos0 > s.written)
      throw_error("kv_cache", "slot {} layer {}: positions [{}, {}) were never written", slot,
                  layer, s.written, pos0);
    reserve(s, layer, static_cast<int32_t>(end));
    s.written = std::max(s.written, static_cast<int32_t>(end));
  }
  return s;
}

}  // namespace ollmlx::cuda
