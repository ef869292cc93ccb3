// CPU attention: writes the pass's keys/values into the KV cache, then causal (or sliding-window)
// softmax attention of every query row over its sequence's cached keys, with GQA.
//
// Work is split into tasks of (sequence, kv head, query rows, query heads of that kv group); each
// task walks the key range in tiles and keeps a running max / sum / accumulator per query vector
// (online softmax, all float32). Keys/values of a tile are converted from the storage dtype to
// float once per task and reused by all its query vectors (ring buffers of sliding-window layers
// are always copied out, in position order, so a tile never splits where a ring wraps). Tiles
// start at absolute multiples of the tile size, so the result for a query depends only on its
// position and the cached keys -- not on how rows were batched or chunked into passes, nor on the
// ring's capacity.
// Dot products and the weighted sums of values are vectorised with Highway (runtime dispatch).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/kv_cache_cpu.h"
#include "util/error.h"
#include "util/half.h"

#ifndef OLLMLX_CPU_ATTENTION_SHARED
#define OLLMLX_CPU_ATTENTION_SHARED
namespace ollmlx::cpu::attention_detail {

// Cache storage of one sequence in the layer being computed.
struct SpanStore {
  const uint8_t* k = nullptr;  // [n_kv_heads][capacity][head_dim] of the storage dtype
  const uint8_t* v = nullptr;
  int32_t capacity = 0;
  bool ring = false;
};

// One unit of parallel work: query rows [r0, r1) of span `span`, query heads [h0, h1) (all in kv
// group `kvh`).
struct Task {
  int span = 0;
  int kvh = 0;
  int h0 = 0, h1 = 0;
  int32_t r0 = 0, r1 = 0;
  int64_t cost = 0;  // for scheduling the largest tasks first
};

struct Job {
  const float* q = nullptr;  // [T, n_heads*head_dim]
  float* out = nullptr;      // [T, n_heads*head_dim]
  const int32_t* positions = nullptr;
  const std::vector<SpanStore>* spans = nullptr;
  int head_dim = 0;
  int n_heads = 0;
  int tile = 64;  // keys per tile
  float scale = 1.0f;
  float softcap = 0.0f;
  int window = 0;
  DType dtype = DType::F32;  // cache storage dtype
};

// First key a query at position p sees.
inline int32_t first_key(int32_t p, int window) {
  return window > 0 ? std::max<int32_t>(0, p - window + 1) : 0;
}

}  // namespace ollmlx::cpu::attention_detail
#endif  // OLLMLX_CPU_ATTENTION_SHARED

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/attention.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format off
#include "hwy/contrib/math/math-inl.h"  // after highway.h: per-target Exp/Tanh
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace ollmlx::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using attention_detail::Job;
using attention_detail::Task;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

namespace {  // per-target helpers; names must not collide with other kernels' targets

struct Scratch {
  std::vector<float> k, v;   // [tile][head_dim] converted keys / values
  std::vector<float> s;      // [tile + 2 lanes] scores, then probabilities
  std::vector<float> acc;    // [M][head_dim] weighted value sums
  std::vector<float> mx, l;  // [M] running max and sum of exponentials
};
Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

// n rows of head_dim elements of the storage dtype -> float.
void ConvertRows(const uint8_t* src, DType dtype, size_t n, float* dst) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const auto* p = reinterpret_cast<const uint16_t*>(src);
  size_t i = 0;
  if (dtype == DType::BF16) {
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    const auto* pb = reinterpret_cast<const hwy::bfloat16_t*>(src);
    for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(d, hn::LoadU(db, pb + i)), d, dst + i);
    for (; i < n; ++i) dst[i] = bf16_to_f32(p[i]);
  } else {
    const hn::Rebind<hwy::float16_t, DF> dh;
    const auto* ph = reinterpret_cast<const hwy::float16_t*>(src);
    for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, ph + i)), d, dst + i);
    for (; i < n; ++i) dst[i] = f16_to_f32(p[i]);
  }
}

// Keys/values are read in their storage type (float, or f16/bf16 converted while loading, which
// is exact), so a non-ring cache needs no converted copy: every query head reads the cache
// directly. The arithmetic is the same for every storage type.
template <typename KV>
HWY_INLINE VF LoadF(const KV* p) {
  const DF d;
  if constexpr (std::is_same_v<KV, float>) {
    return hn::LoadU(d, p);
  } else {
    return hn::PromoteTo(d, hn::LoadU(hn::Rebind<KV, DF>(), p));
  }
}

template <typename KV>
HWY_INLINE float ToF(const KV* p) {
  if constexpr (std::is_same_v<KV, float>) {
    return *p;
  } else {
    uint16_t bits;
    std::memcpy(&bits, p, sizeof(bits));
    return std::is_same_v<KV, hwy::bfloat16_t> ? bf16_to_f32(bits) : f16_to_f32(bits);
  }
}

// Two accumulators (even/odd vector chunks) per key, then one odd chunk, then a scalar tail.
// Dot() and Dot4() perform exactly the same operations per key, so a score never depends on
// which of them computed it.
template <typename KV>
HWY_INLINE float Finish(DF d, VF a, VF b, const float* q, const KV* k, size_t i, size_t hd) {
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(a, b)));
  for (; i < hd; ++i) sum += q[i] * ToF(k + i);
  return sum;
}

template <typename KV>
HWY_INLINE float Dot(const float* q, const KV* k, size_t hd) {
  const DF d;
  const size_t N = hn::Lanes(d);
  VF a = hn::Zero(d), b = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= hd; i += 2 * N) {
    a = hn::MulAdd(hn::LoadU(d, q + i), LoadF(k + i), a);
    b = hn::MulAdd(hn::LoadU(d, q + i + N), LoadF(k + i + N), b);
  }
  if (i + N <= hd) {
    a = hn::MulAdd(hn::LoadU(d, q + i), LoadF(k + i), a);
    i += N;
  }
  return Finish(d, a, b, q, k, i, hd);
}

template <typename KV>
HWY_INLINE void Dot4(const float* q, const KV* k, size_t hd, float* s) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const KV* k0 = k;
  const KV* k1 = k + hd;
  const KV* k2 = k + 2 * hd;
  const KV* k3 = k + 3 * hd;
  VF a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  size_t i = 0;
  for (; i + 2 * N <= hd; i += 2 * N) {
    const VF qa = hn::LoadU(d, q + i), qb = hn::LoadU(d, q + i + N);
    a0 = hn::MulAdd(qa, LoadF(k0 + i), a0);
    a1 = hn::MulAdd(qa, LoadF(k1 + i), a1);
    a2 = hn::MulAdd(qa, LoadF(k2 + i), a2);
    a3 = hn::MulAdd(qa, LoadF(k3 + i), a3);
    b0 = hn::MulAdd(qb, LoadF(k0 + i + N), b0);
    b1 = hn::MulAdd(qb, LoadF(k1 + i + N), b1);
    b2 = hn::MulAdd(qb, LoadF(k2 + i + N), b2);
    b3 = hn::MulAdd(qb, LoadF(k3 + i + N), b3);
  }
  if (i + N <= hd) {
    const VF qa = hn::LoadU(d, q + i);
    a0 = hn::MulAdd(qa, LoadF(k0 + i), a0);
    a1 = hn::MulAdd(qa, LoadF(k1 + i), a1);
    a2 = hn::MulAdd(qa, LoadF(k2 + i), a2);
    a3 = hn::MulAdd(qa, LoadF(k3 + i), a3);
    i += N;
  }
  s[0] = Finish(d, a0, b0, q, k0, i, hd);
  s[1] = Finish(d, a1, b1, q, k1, i, hd);
  s[2] = Finish(d, a2, b2, q, k2, i, hd);
  s[3] = Finish(d, a3, b3, q, k3, i, hd);
}

// acc[hd] += sum_j e[j] * v[j][hd] for j < n (even and odd keys in separate accumulators).
template <typename KV>
void AddWeighted(const float* e, const KV* v, size_t n, size_t hd, float* acc) {
  const DF d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + 4 * N <= hd; i += 4 * N) {
    VF a0 = hn::LoadU(d, acc + i), a1 = hn::LoadU(d, acc + i + N);
    VF a2 = hn::LoadU(d, acc + i + 2 * N), a3 = hn::LoadU(d, acc + i + 3 * N);
    VF b0 = hn::Zero(d), b1 = b0, b2 = b0, b3 = b0;
    size_t j = 0;
    for (; j + 2 <= n; j += 2) {
      const KV* va = v + j * hd + i;
      const KV* vb = va + hd;
      const VF ea = hn::Set(d, e[j]), eb = hn::Set(d, e[j + 1]);
      a0 = hn::MulAdd(ea, LoadF(va), a0);
      a1 = hn::MulAdd(ea, LoadF(va + N), a1);
      a2 = hn::MulAdd(ea, LoadF(va + 2 * N), a2);
      a3 = hn::MulAdd(ea, LoadF(va + 3 * N), a3);
      b0 = hn::MulAdd(eb, LoadF(vb), b0);
      b1 = hn::MulAdd(eb, LoadF(vb + N), b1);
      b2 = hn::MulAdd(eb, LoadF(vb + 2 * N), b2);
      b3 = hn::MulAdd(eb, LoadF(vb + 3 * N), b3);
    }
    if (j < n) {
      const KV* va = v + j * hd + i;
      const VF ea = hn::Set(d, e[j]);
      a0 = hn::MulAdd(ea, LoadF(va), a0);
      a1 = hn::MulAdd(ea, LoadF(va + N), a1);
      a2 = hn::MulAdd(ea, LoadF(va + 2 * N), a2);
      a3 = hn::MulAdd(ea, LoadF(va + 3 * N), a3);
    }
    hn::StoreU(hn::Add(a0, b0), d, acc + i);
    hn::StoreU(hn::Add(a1, b1), d, acc + i + N);
    hn::StoreU(hn::Add(a2, b2), d, acc + i + 2 * N);
    hn::StoreU(hn::Add(a3, b3), d, acc + i + 3 * N);
  }
  for (; i + N <= hd; i += N) {
    VF a = hn::LoadU(d, acc + i), b = hn::Zero(d);
    size_t j = 0;
    for (; j + 2 <= n; j += 2) {
      a = hn::MulAdd(hn::Set(d, e[j]), LoadF(v + j * hd + i), a);
      b = hn::MulAdd(hn::Set(d, e[j + 1]), LoadF(v + (j + 1) * hd + i), b);
    }
    if (j < n) a = hn::MulAdd(hn::Set(d, e[j]), LoadF(v + j * hd + i), a);
    hn::StoreU(hn::Add(a, b), d, acc + i);
  }
  for (; i < hd; ++i) {
    float sum = acc[i];
    for (size_t j = 0; j < n; ++j) sum += e[j] * ToF(v + j * hd + i);
    acc[i] = sum;
  }
}

// One query vector against keys/values k, v [n][hd]: updates its running max `mx`, sum `l` and
// accumulator acc[hd]. s has room for n rounded up to a whole vector.
template <typename KV>
void AttendKeys(const Job& job, const float* q, const KV* k, const KV* v, size_t n, float* s,
                float& mx, float& l, float* acc) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t hd = static_cast<size_t>(job.head_dim);
  size_t j = 0;
  for (; j + 4 <= n; j += 4) Dot4(q, k + j * hd, hd, s + j);
  for (; j < n; ++j) s[j] = Dot(q, k + j * hd, hd);
  const size_t nv = (n + N - 1) / N * N;
  for (j = n; j < nv; ++j) s[j] = 0.0f;
  const VF vscale = hn::Set(d, job.scale);
  if (job.softcap > 0.0f) {
    const VF cap = hn::Set(d, job.softcap);
    for (j = 0; j < nv; j += N) {
      const VF x = hn::Div(hn::Mul(hn::LoadU(d, s + j), vscale), cap);
      hn::StoreU(hn::Mul(hn::Tanh(d, x), cap), d, s + j);
    }
  } else {
    for (j = 0; j < nv; j += N) hn::StoreU(hn::Mul(hn::LoadU(d, s + j), vscale), d, s + j);
  }
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (j = n; j < nv; ++j) s[j] = neg_inf;
  VF vmax = hn::Set(d, neg_inf);
  for (j = 0; j < nv; j += N) vmax = hn::Max(vmax, hn::LoadU(d, s + j));
  const float new_max = std::max(mx, hn::GetLane(hn::MaxOfLanes(d, vmax)));
  const VF vnew = hn::Set(d, new_max);
  VF vsum = hn::Zero(d);
  for (j = 0; j < nv; j += N) {
    const VF e = hn::Exp(d, hn::Sub(hn::LoadU(d, s + j), vnew));
    vsum = hn::Add(vsum, e);
    hn::StoreU(e, d, s + j);
  }
  const float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  if (new_max != mx) {
    const float corr = std::exp(mx - new_max);  // 0 for the first tile (mx = -inf)
    l *= corr;
    for (size_t i = 0; i < hd; ++i) acc[i] *= corr;
  }
  l += sum;
  mx = new_max;
  AddWeighted(s, v, n, hd, acc);
}

// AttendKeys on keys/values of storage type dt (F32, F16 or BF16).
void AttendKeysAny(DType dt, const Job& job, const float* q, const uint8_t* k, const uint8_t* v,
                   size_t n, float* s, float& mx, float& l, float* acc) {
  switch (dt) {
    case DType::F16:
      return AttendKeys(job, q, reinterpret_cast<const hwy::float16_t*>(k),
                        reinterpret_cast<const hwy::float16_t*>(v), n, s, mx, l, acc);
    case DType::BF16:
      return AttendKeys(job, q, reinterpret_cast<const hwy::bfloat16_t*>(k),
                        reinterpret_cast<const hwy::bfloat16_t*>(v), n, s, mx, l, acc);
    default:
      return AttendKeys(job, q, reinterpret_cast<const float*>(k),
                        reinterpret_cast<const float*>(v), n, s, mx, l, acc);
  }
}

}  // namespace

void AttendTask(const Job& job, const Task& task) {
  using attention_detail::first_key;
  const DF d;
  const size_t N = hn::Lanes(d);
  const attention_detail::SpanStore& st = (*job.spans)[static_cast<size_t>(task.span)];
  const size_t hd = static_cast<size_t>(job.head_dim);
  const size_t heads = static_cast<size_t>(task.h1 - task.h0);
  const size_t rows = static_cast<size_t>(task.r1 - task.r0);
  const size_t M = rows * heads;
  const size_t row_stride = static_cast<size_t>(job.n_heads) * hd;
  const int32_t* pos = job.positions + task.r0;
  const size_t esz = dtype_size(job.dtype);
  const size_t head_off = static_cast<size_t>(task.kvh) * static_cast<size_t>(st.capacity) * hd;
  const uint8_t* kbase = st.k + head_off * esz;
  const uint8_t* vbase = st.v + head_off * esz;
  const size_t tile = static_cast<size_t>(job.tile);

  Scratch& sc = scratch();
  sc.acc.assign(M * hd, 0.0f);
  sc.mx.assign(M, -std::numeric_limits<float>::infinity());
  sc.l.assign(M, 0.0f);
  sc.s.resize(tile + 2 * N);
  // A cache that is not a ring is read in place when it is float, and when the task has few query
  // vectors (decoding: converting a tile would cost about as much as using it). Otherwise each
  // tile is converted to float once and shared by all the task's query vectors. The arithmetic is
  // the same either way (the conversion is exact).
  const bool in_place = !st.ring && (job.dtype == DType::F32 || M < 4);
  if (!in_place) {
    sc.k.resize(tile * hd);
    sc.v.resize(tile * hd);
  }

  const int32_t last = pos[rows - 1];
  int32_t j0 = first_key(pos[0], job.window);
  while (j0 <= last) {
    const int32_t j1 = std::min(last + 1, (j0 / job.tile + 1) * job.tile);
    const size_t n = static_cast<size_t>(j1 - j0);
    const uint8_t* kt;  // keys/values of positions [j0, j1), of type tdt
    const uint8_t* vt;
    DType tdt = job.dtype;
    if (in_place) {
      kt = kbase + static_cast<size_t>(j0) * hd * esz;
      vt = vbase + static_cast<size_t>(j0) * hd * esz;
    } else {
      // Positions [j0, j1) in order; in a ring (capacity > window + chunk >= n) they occupy at
      // most two runs of rows.
      size_t done = 0;
      while (done < n) {
        const int32_t p = j0 + static_cast<int32_t>(done);
        const size_t row = static_cast<size_t>(st.ring ? p % st.capacity : p);
        const size_t run = st.ring ? std::min(n - done, static_cast<size_t>(st.capacity) - row) : n;
        const size_t off = row * hd * esz;
        if (job.dtype == DType::F32) {
          std::memcpy(sc.k.data() + done * hd, kbase + off, run * hd * sizeof(float));
          std::memcpy(sc.v.data() + done * hd, vbase + off, run * hd * sizeof(float));
        } else {
          ConvertRows(kbase + off, job.dtype, run * hd, sc.k.data() + done * hd);
          ConvertRows(vbase + off, job.dtype, run * hd, sc.v.data() + done * hd);
        }
        done += run;
      }
      kt = reinterpret_cast<const uint8_t*>(sc.k.data());
      vt = reinterpret_cast<const uint8_t*>(sc.v.data());
      tdt = DType::F32;
    }
    const size_t tsz = dtype_size(tdt);
    for (size_t r = 0; r < rows; ++r) {
      const int32_t a = std::max(j0, first_key(pos[r], job.window));
      const int32_t b = std::min(j1 - 1, pos[r]);
      if (a > b) continue;
      const size_t off = static_cast<size_t>(a - j0);
      for (size_t h = 0; h < heads; ++h) {
        const size_t m = r * heads + h;
        const float* q = job.q + (static_cast<size_t>(task.r0) + r) * row_stride +
                         (static_cast<size_t>(task.h0) + h) * hd;
        AttendKeysAny(tdt, job, q, kt + off * hd * tsz, vt + off * hd * tsz,
                      static_cast<size_t>(b - a + 1), sc.s.data(), sc.mx[m], sc.l[m],
                      sc.acc.data() + m * hd);
      }
    }
    j0 = j1;
  }

  for (size_t r = 0; r < rows; ++r) {
    for (size_t h = 0; h < heads; ++h) {
      const size_t m = r * heads + h;
      float* o = job.out + (static_cast<size_t>(task.r0) + r) * row_stride +
                 (static_cast<size_t>(task.h0) + h) * hd;
      const float inv = 1.0f / sc.l[m];
      const float* acc = sc.acc.data() + m * hd;
      for (size_t i = 0; i < hd; ++i) o[i] = acc[i] * inv;
    }
  }
}

}  // namespace ollmlx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ollmlx::cpu {

HWY_EXPORT(AttendTask);

namespace {

using attention_detail::first_key;
using attention_detail::SpanStore;
using attention_detail::Task;

CpuKvCache& cpu_cache(KvCache& cache, const AttentionParams& p) {
  auto* c = dynamic_cast<CpuKvCache*>(&cache);
  if (!c) throw_error("attention", "the KV cache was not created by the cpu backend");
  const auto& layers = c->spec().layers;
  if (p.layer < 0 || static_cast<size_t>(p.layer) >= layers.size())
    throw_error("attention", "layer {} outside the {} cached layers", p.layer, layers.size());
  const KvLayerSpec& ls = layers[static_cast<size_t>(p.layer)];
  if (ls.n_kv_heads != p.n_kv_heads || ls.head_dim != p.head_dim || ls.window != p.window)
    throw_error("attention",
                "layer {}: cache has {} kv heads x {} window {}, the op asks for {} x {} window {}",
                p.layer, ls.n_kv_heads, ls.head_dim, ls.window, p.n_kv_heads, p.head_dim, p.window);
  return *c;
}

// Query rows per task when a task takes all heads of a kv group: about 48 query vectors.
int32_t rows_per_task(int n_rep) { return std::max(4, 48 / n_rep); }

}  // namespace

void attention(ThreadPool& pool, const float* q, const float* k, const float* v, KvCache& cache,
               const BatchLayout& batch, const AttentionParams& p, float* out) {
  if (p.n_heads < 1 || p.n_kv_heads < 1 || p.head_dim < 1 || p.n_heads % p.n_kv_heads != 0)
    throw_error("attention", "bad head layout: {} heads, {} kv heads, head_dim {}", p.n_heads,
                p.n_kv_heads, p.head_dim);
  if (p.softcap < 0.0f || !std::isfinite(p.scale))
    throw_error("attention", "bad scale {} or softcap {}", p.scale, p.softcap);
  CpuKvCache& kv = cpu_cache(cache, p);
  const int n_rep = p.n_heads / p.n_kv_heads;
  const int64_t kv_stride = int64_t{p.n_kv_heads} * p.head_dim;

  // 1. Check the layout (spans tile the rows in order, as finalize_layout makes them), prepare
  // the cache of every span, then write this pass's keys/values.
  std::vector<int> span_of_row(static_cast<size_t>(batch.rows()));
  int32_t next_row = 0;
  for (size_t si = 0; si < batch.seqs.size(); ++si) {
    const SeqSpan& s = batch.seqs[si];
    for (size_t sj = 0; sj < si; ++sj)
      if (batch.seqs[sj].slot == s.slot)
        throw_error("attention", "slot {} appears twice in one batch", s.slot);
    if (s.begin != next_row || s.count < 1 || int64_t{s.begin} + s.count > batch.rows())
      throw_error("attention", "span of slot {} (rows [{}, +{})) does not continue at row {} of {}",
                  s.slot, s.begin, s.count, next_row, batch.rows());
    for (int32_t r = s.begin; r < s.begin + s.count; ++r) {
      span_of_row[static_cast<size_t>(r)] = static_cast<int>(si);
      if (batch.positions[static_cast<size_t>(r)] != s.pos0 + (r - s.begin))
        throw_error("attention", "row {} has position {}, its span says {}", r,
                    batch.positions[static_cast<size_t>(r)], s.pos0 + (r - s.begin));
    }
    next_row += s.count;
  }
  if (next_row != batch.rows())
    throw_error("attention", "the spans cover {} of {} rows", next_row, batch.rows());
  std::vector<CpuKvCache::Store*> stores;
  for (const SeqSpan& s : batch.seqs)
    stores.push_back(&kv.prepare_write(s.slot, p.layer, s.pos0, s.count));
  pool.parallel_for(batch.rows(), 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int si = span_of_row[static_cast<size_t>(r)];
      kv.write_row(*stores[static_cast<size_t>(si)], p.layer,
                   batch.positions[static_cast<size_t>(r)], k + r * kv_stride, v + r * kv_stride);
    }
  });

  // 2. Attention tasks, largest first.
  std::vector<SpanStore> spans;
  std::vector<Task> tasks;
  for (size_t si = 0; si < batch.seqs.size(); ++si) {
    const SeqSpan& s = batch.seqs[si];
    const CpuKvCache::Store& st = *stores[si];
    spans.push_back({st.k.get(), st.v.get(), st.capacity, p.window > 0});
    // Few rows (decoding): one task per query head so that the threads have work; many rows:
    // a task takes all heads of a kv group, so converted keys/values are shared n_rep times.
    const bool per_head = s.count < 4;
    const int32_t block = per_head ? s.count : rows_per_task(n_rep);
    for (int g = 0; g < p.n_kv_heads; ++g) {
      for (int32_t r0 = s.begin; r0 < s.begin + s.count; r0 += block) {
        const int32_t r1 = std::min(r0 + block, s.begin + s.count);
        const int64_t p_first = batch.positions[static_cast<size_t>(r0)];
        const int64_t p_last = batch.positions[static_cast<size_t>(r1 - 1)];
        const int64_t keys = p_last - first_key(static_cast<int32_t>(p_first), p.window) + 1;
        if (per_head) {
          for (int h = g * n_rep; h < (g + 1) * n_rep; ++h)
            tasks.push_back({static_cast<int>(si), g, h, h + 1, r0, r1, (r1 - r0) * keys});
        } else {
          tasks.push_back({static_cast<int>(si), g, g * n_rep, (g + 1) * n_rep, r0, r1,
                           (r1 - r0) * n_rep * keys});
        }
      }
    }
  }
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const Task& a, const Task& b) { return a.cost > b.cost; });

  attention_detail::Job job;
  job.q = q;
  job.out = out;
  job.positions = batch.positions.data();
  job.spans = &spans;
  job.head_dim = p.head_dim;
  job.n_heads = p.n_heads;
  job.tile = std::clamp(4096 / p.head_dim, 16, 128);
  job.scale = p.scale;
  job.softcap = p.softcap;
  job.window = p.window;
  job.dtype = kv.spec().dtype;
  pool.run(static_cast<int64_t>(tasks.size()), [&](int64_t t, int) {
    HWY_DYNAMIC_DISPATCH(AttendTask)(job, tasks[static_cast<size_t>(t)]);
  });
}

}  // namespace ollmlx::cpu
#endif  // HWY_ONCE
