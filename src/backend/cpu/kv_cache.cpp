// The CPU KV cache (kv_cache_cpu.h): slot bookkeeping, lazy allocation, growth of full layers,
// ring buffers for sliding-window layers, and the conversion of rows to the storage dtype.
#include "backend/cpu/kv_cache_cpu.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "util/error.h"
#include "util/half.h"

namespace ollmlx::cpu {

namespace {
constexpr int32_t kGrowStep = 256;  // full layers grow by this many positions (as mlx-lm)
}  // namespace

CpuKvCache::CpuKvCache(const KvCacheSpec& spec) : KvCache(spec) {
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

int CpuKvCache::alloc_seq() {
  for (size_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      used_[i] = true;
      len_[i] = 0;
      return static_cast<int>(i);
    }
  }
  throw_error("kv_cache", "all {} sequence slots are in use", spec_.max_seqs);
}

void CpuKvCache::check_slot(int slot) const {
  if (slot < 0 || slot >= spec_.max_seqs || !used_[static_cast<size_t>(slot)])
    throw_error("kv_cache", "slot {} is not allocated (slots 0..{})", slot, spec_.max_seqs - 1);
}

void CpuKvCache::free_seq(int slot) {
  check_slot(slot);
  const auto i = static_cast<size_t>(slot);
  used_[i] = false;
  len_[i] = 0;
  for (Store& s : stores_[i]) s = Store{};
}

int32_t CpuKvCache::seq_len(int slot) const {
  check_slot(slot);
  return len_[static_cast<size_t>(slot)];
}

void CpuKvCache::set_len(int slot, int32_t len) {
  check_slot(slot);
  if (len < 0 || len > spec_.max_context)
    throw_error("kv_cache", "slot {}: length {} outside the context of {} tokens", slot, len,
                spec_.max_context);
  len_[static_cast<size_t>(slot)] = len;
}

size_t CpuKvCache::bytes() const {
  size_t n = 0;
  for (const auto& slot : stores_) {
    for (size_t l = 0; l < slot.size(); ++l) {
      const KvLayerSpec& ls = spec_.layers[l];
      n += 2 * static_cast<size_t>(slot[l].capacity) * static_cast<size_t>(ls.n_kv_heads) *
           static_cast<size_t>(ls.head_dim) * elem_size_;
    }
  }
  return n;
}

const CpuKvCache::Store& CpuKvCache::store(int slot, int layer) const {
  check_slot(slot);
  if (layer < 0 || static_cast<size_t>(layer) >= spec_.layers.size())
    throw_error("kv_cache", "layer {} outside the {} cached layers", layer, spec_.layers.size());
  return stores_[static_cast<size_t>(slot)][static_cast<size_t>(layer)];
}

// Makes the capacity of `s` cover positions [0, end) (full layers) or the ring (sliding layers).
void CpuKvCache::reserve(Store& s, int layer, int32_t end) {
  const KvLayerSpec& ls = spec_.layers[static_cast<size_t>(layer)];
  int32_t want;
  if (ls.window > 0) {
    if (s.capacity > 0) return;
    want = ls.window + spec_.max_chunk;
  } else {
    if (end <= s.capacity) return;
    const int64_t rounded = (int64_t{end} + kGrowStep - 1) / kGrowStep * kGrowStep;
    want = static_cast<int32_t>(std::min<int64_t>(rounded, spec_.max_context));
  }
  const size_t row = static_cast<size_t>(ls.head_dim) * elem_size_;
  const size_t heads = static_cast<size_t>(ls.n_kv_heads);
  const size_t total = heads * static_cast<size_t>(want) * row;
  for (std::unique_ptr<uint8_t[]>* buf : {&s.k, &s.v}) {
    std::unique_ptr<uint8_t[]> fresh(new uint8_t[total]);
    std::memset(fresh.get(), 0xff, total);  // NaN in F32, F16 and BF16
    if (*buf) {
      const size_t old_head = static_cast<size_t>(s.capacity) * row;
      for (size_t h = 0; h < heads; ++h)
        std::memcpy(fresh.get() + h * static_cast<size_t>(want) * row, buf->get() + h * old_head,
                    old_head);
    }
    *buf = std::move(fresh);
  }
  if (ls.window > 0) s.ring_pos.assign(static_cast<size_t>(want), -1);
  s.capacity = want;
}

CpuKvCache::Store& CpuKvCache::prepare_write(int slot, int layer, int32_t pos0, int32_t count) {
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
    // The first query (at pos0) needs keys [pos0 - window + 1, pos0); the ring must still hold
    // them (this pass only overwrites rows of positions older than that).
    for (int32_t j = std::max(0, pos0 - ls.window + 1); j < pos0; ++j) {
      if (s.ring_pos[static_cast<size_t>(j % s.capacity)] != j)
        throw_error("kv_cache",
                    "slot {} layer {}: sliding-window history at position {} is no longer stored "
                    "(rewound more than max_chunk = {} positions behind the furthest write)",
                    slot, layer, j, spec_.max_chunk);
    }
  } else {
    if (pos0 > s.written)
      throw_error("kv_cache", "slot {} layer {}: positions [{}, {}) were never written", slot,
                  layer, s.written, pos0);
    reserve(s, layer, static_cast<int32_t>(end));
    s.written = std::max(s.written, static_cast<int32_t>(end));
  }
  return s;
}

void CpuKvCache::write_row(Store& s, int layer, int32_t pos, const float* k, const float* v) {
  const KvLayerSpec& ls = spec_.layers[static_cast<size_t>(layer)];
  const int32_t r = row_of(layer, pos, s);
  if (ls.window > 0) s.ring_pos[static_cast<size_t>(r)] = pos;
  const size_t hd = static_cast<size_t>(ls.head_dim);
  for (int h = 0; h < ls.n_kv_heads; ++h) {
    const size_t row =
        (static_cast<size_t>(h) * static_cast<size_t>(s.capacity) + static_cast<size_t>(r)) * hd;
    const float* ks = k + static_cast<size_t>(h) * hd;
    const float* vs = v + static_cast<size_t>(h) * hd;
    if (spec_.dtype == DType::F32) {
      std::memcpy(reinterpret_cast<float*>(s.k.get()) + row, ks, hd * sizeof(float));
      std::memcpy(reinterpret_cast<float*>(s.v.get()) + row, vs, hd * sizeof(float));
    } else {
      uint16_t* kd = reinterpret_cast<uint16_t*>(s.k.get()) + row;
      uint16_t* vd = reinterpret_cast<uint16_t*>(s.v.get()) + row;
      const bool bf = spec_.dtype == DType::BF16;
      for (size_t i = 0; i < hd; ++i) {
        kd[i] = bf ? f32_to_bf16(ks[i]) : f32_to_f16(ks[i]);
        vd[i] = bf ? f32_to_bf16(vs[i]) : f32_to_f16(vs[i]);
      }
    }
  }
}

std::unique_ptr<KvCache> make_kv_cache(const KvCacheSpec& spec) {
  return std::make_unique<CpuKvCache>(spec);
}

}  // namespace ollmlx::cpu
