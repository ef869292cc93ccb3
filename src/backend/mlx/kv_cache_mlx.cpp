// The MLX KV cache (kv_cache_mlx.h): slot bookkeeping and the checks of the CPU cache, storage
// as MLX arrays written with slice_update.
#include "backend/mlx/kv_cache_mlx.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace ollmlx::mlxb {

namespace {
constexpr int32_t kGrowStep = 256;  // full layers grow by this many positions (as mlx-lm)

mx::array nan_block(int kv_heads, int32_t rows, int head_dim, mx::Dtype dt, mx::Stream s) {
  return mx::full({1, kv_heads, rows, head_dim},
                  mx::array(std::numeric_limits<float>::quiet_NaN(), dt), dt, s);
}
}  // namespace

MlxKvCache::MlxKvCache(const KvCacheSpec& spec, mx::Stream stream)
    : KvCache(spec), stream_(stream), dtype_(mx::float32) {
  if (spec_.dtype != DType::F32 && spec_.dtype != DType::F16 && spec_.dtype != DType::BF16)
    throw_error("kv_cache", "storage dtype must be F32, F16 or BF16, not {}", dtype_name(spec_.dtype));
  if (spec_.max_seqs < 1 || spec_.max_context < 1 || spec_.max_chunk < 1)
    throw_error("kv_cache", "bad spec: {} slots, context {}, chunk {}", spec_.max_seqs,
                spec_.max_context, spec_.max_chunk);
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    const KvLayerSpec& l = spec_.layers[i];
    if (l.n_kv_heads < 1 || l.head_dim < 1 || l.window < 0)
      throw_error("kv_cache", "layer {}: bad spec ({} kv heads, head_dim {}, window {})", i,
                  l.n_kv_heads, l.head_dim, l.window);
  }
  dtype_ = to_mx(spec_.dtype);
  const auto n = static_cast<size_t>(spec_.max_seqs);
  used_.assign(n, false);
  len_.assign(n, 0);
  stores_.resize(n);
  for (auto& s : stores_) s.resize(spec_.layers.size());
}

int MlxKvCache::alloc_seq() {
  for (size_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      used_[i] = true;
      len_[i] = 0;
      return static_cast<int>(i);
    }
  }
  throw_error("kv_cache", "all {} sequence slots are in use", spec_.max_seqs);
}

void MlxKvCache::check_slot(int slot) const {
  if (slot < 0 || slot >= spec_.max_seqs || !used_[static_cast<size_t>(slot)])
    throw_error("kv_cache", "slot {} is not allocated (slots 0..{})", slot, spec_.max_seqs - 1);
}

void MlxKvCache::free_seq(int slot) {
  check_slot(slot);
  const auto i = static_cast<size_t>(slot);
  used_[i] = false;
  len_[i] = 0;
  for (Store& s : stores_[i]) s = Store{};
}

int32_t MlxKvCache::seq_len(int slot) const {
  check_slot(slot);
  return len_[static_cast<size_t>(slot)];
}

void MlxKvCache::set_len(int slot, int32_t len) {
  check_slot(slot);
  if (len < 0 || len > spec_.max_context)
    throw_error("kv_cache", "slot {}: length {} outside the context of {} tokens", slot, len,
                spec_.max_context);
  len_[static_cast<size_t>(slot)] = len;
}

size_t MlxKvCache::bytes() const {
  size_t n = 0;
  const size_t esz = mx::size_of(dtype_);
  for (const auto& slot : stores_) {
    for (size_t l = 0; l < slot.size(); ++l) {
      const KvLayerSpec& ls = spec_.layers[l];
      n += 2 * static_cast<size_t>(slot[l].capacity) * static_cast<size_t>(ls.n_kv_heads) *
           static_cast<size_t>(ls.head_dim) * esz;
    }
  }
  return n;
}

void MlxKvCache::reserve(Store& s, int layer, int32_t end) {
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
  mx::array fresh = nan_block(ls.n_kv_heads, want - s.capacity, ls.head_dim, dtype_, stream_);
  if (s.k) {
    s.k = mx::concatenate({*s.k, fresh}, 2, stream_);
    s.v = mx::concatenate({*s.v, fresh}, 2, stream_);
  } else {
    s.k = fresh;
    s.v = nan_block(ls.n_kv_heads, want, ls.head_dim, dtype_, stream_);
  }
  if (ls.window > 0) s.ring_pos.assign(static_cast<size_t>(want), -1);
  s.capacity = want;
}

MlxKvCache::Fetched MlxKvCache::write_and_fetch(int slot, int layer, int32_t pos0, const mx::array& k,
                                                const mx::array& v) {
  check_slot(slot);
  if (layer < 0 || static_cast<size_t>(layer) >= spec_.layers.size())
    throw_error("kv_cache", "layer {} outside the {} cached layers", layer, spec_.layers.size());
  const KvLayerSpec& ls = spec_.layers[static_cast<size_t>(layer)];
  if (k.ndim() != 4 || k.shape(0) != 1 || k.shape(1) != ls.n_kv_heads || k.shape(3) != ls.head_dim ||
      v.shape() != k.shape() || k.dtype() != dtype_ || v.dtype() != dtype_)
    throw_error("kv_cache", "layer {}: keys/values of the wrong shape or dtype", layer);
  const int32_t count = k.shape(2);
  const int32_t len = len_[static_cast<size_t>(slot)];
  if (count < 1 || pos0 < 0 || pos0 > len)
    throw_error("kv_cache", "slot {}: cannot write {} positions at {}: {} are stored", slot, count,
                pos0, len);
  const int64_t end = int64_t{pos0} + count;
  if (end > spec_.max_context)
    throw_error("kv_cache", "slot {}: context of {} tokens exceeded (writing up to position {})",
                slot, spec_.max_context, end - 1);
  Store& s = stores_[static_cast<size_t>(slot)][static_cast<size_t>(layer)];
  const int H = ls.n_kv_heads, hd = ls.head_dim;
  const int32_t e = static_cast<int32_t>(end);
  if (ls.window > 0) {
    if (count > spec_.max_chunk)
      throw_error("kv_cache", "slot {}: {} rows in one pass exceed the chunk limit of {}", slot,
                  count, spec_.max_chunk);
    reserve(s, layer, e);
    // The first query (at pos0) needs keys [pos0 - window + 1, pos0); the ring must still hold
    // them (this pass only overwrites rows of positions older than that).
    for (int32_t j = std::max(0, pos0 - ls.window + 1); j < pos0; ++j) {
      if (s.ring_pos[static_cast<size_t>(j % s.capacity)] != j)
        throw_error("kv_cache",
                    "slot {} layer {}: sliding-window history at position {} is no longer stored "
                    "(rewound more than max_chunk = {} positions behind the furthest write)",
                    slot, layer, j, spec_.max_chunk);
    }
    // Rows of [pos0, end): at most two runs (count <= max_chunk < capacity).
    const int32_t cap = s.capacity;
    const int32_t r0 = pos0 % cap;
    const int32_t n1 = std::min(count, cap - r0);
    auto put = [&](int32_t row, int32_t from, int32_t n) {
      mx::array kp = from == 0 && n == count ? k : mx::slice(k, {0, 0, from, 0}, {1, H, from + n, hd}, stream_);
      mx::array vp = from == 0 && n == count ? v : mx::slice(v, {0, 0, from, 0}, {1, H, from + n, hd}, stream_);
      s.k = mx::slice_update(*s.k, kp, mx::Shape{0, 0, row, 0}, mx::Shape{1, H, row + n, hd}, stream_);
      s.v = mx::slice_update(*s.v, vp, mx::Shape{0, 0, row, 0}, mx::Shape{1, H, row + n, hd}, stream_);
    };
    put(r0, 0, n1);
    if (n1 < count) put(0, n1, count - n1);
    for (int32_t p = pos0; p < e; ++p) s.ring_pos[static_cast<size_t>(p % cap)] = p;
    // Keys of positions [first, end) in order: one or two runs of the ring.
    const int32_t first = std::max(0, pos0 - ls.window + 1);
    const int32_t n = e - first;
    const int32_t f0 = first % cap;
    const int32_t m1 = std::min(n, cap - f0);
    auto rows = [&](const mx::array& a) {
      mx::array part = mx::slice(a, {0, 0, f0, 0}, {1, H, f0 + m1, hd}, stream_);
      if (m1 == n) return part;
      return mx::concatenate({part, mx::slice(a, {0, 0, 0, 0}, {1, H, n - m1, hd}, stream_)}, 2, stream_);
    };
    return Fetched{rows(*s.k), rows(*s.v), first};
  }
  if (pos0 > s.written)
    throw_error("kv_cache", "slot {} layer {}: positions [{}, {}) were never written", slot, layer,
                s.written, pos0);
  reserve(s, layer, e);
  s.written = std::max(s.written, e);
  s.k = mx::slice_update(*s.k, k, mx::Shape{0, 0, pos0, 0}, mx::Shape{1, H, e, hd}, stream_);
  s.v = mx::slice_update(*s.v, v, mx::Shape{0, 0, pos0, 0}, mx::Shape{1, H, e, hd}, stream_);
  return Fetched{mx::slice(*s.k, {0, 0, 0, 0}, {1, H, e, hd}, stream_),
                 mx::slice(*s.v, {0, 0, 0, 0}, {1, H, e, hd}, stream_), 0};
}

std::vector<mx::array> MlxKvCache::stored(int slot, int layer) const {
  const Store& s = stores_[static_cast<size_t>(slot)][static_cast<size_t>(layer)];
  if (!s.k) return {};
  return {*s.k, *s.v};
}

}  // namespace ollmlx::mlxb
