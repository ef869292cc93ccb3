// The CPU linear layer: y[T, N] = x[T, K] W^T for dense (F32/F16/BF16) and MLX affine-quantized
// weights, used in place from the memory-mapped file -- a weight matrix is never expanded in
// memory (at most a few rows are dequantized into a per-thread tile).
//
// Paths, all vectorised with Highway and dispatched at run time to the best SIMD target:
//  * bits 2/4/8 ("permuted" layout): each vector lane holds one uint32 word of a row, i.e. E =
//    32/bits consecutive elements; shifting/masking all lanes by j*bits yields element j of every
//    word, so x is pre-permuted into the same "lane = word" order. Per group MLX's Metal
//    formulation is used: scale * sum(x*q) + bias * sum(x), all in float32. Decode (T <= 4) works
//    straight from the packed words (fused); prefill decodes 2 rows of q into a tile that the
//    token-blocked kernel reuses. Both perform the same float operations per (row, token), so
//    a row's result does not depend on the batch it is in.
//  * dense F32/F16/BF16, affine 3/5/6-bit and the floating-point modes mxfp4/mxfp8/nvfp4
//    ("natural" layout): 4 rows are dequantized (scale*q + bias, or scale*fp_value, in float32)
//    into a tile, then a 4-row x 3-token dot-product kernel runs over all tokens (one path for
//    every T).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/fp_quant.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_bits.h"
#include "util/error.h"
#include "util/prefetch.h"
#include "util/unaligned.h"

#ifndef OLLMLX_CPU_LINEAR_SHARED
#define OLLMLX_CPU_LINEAR_SHARED
namespace ollmlx::cpu::linear_detail {

// Everything a target-specific kernel needs about one linear call.
struct Job {
  const float* x = nullptr;  // [T, K]
  int64_t T = 0;
  const Linear* w = nullptr;
  float* y = nullptr;  // [T, N]
  ThreadPool* pool = nullptr;
  int64_t N = 0, K = 0;
  int bits = 0;        // 0 = dense
  bool fp = false;     // mxfp4 / mxfp8 / nvfp4 (decoded by fp_quant.h)
  int group_size = 0;
  int64_t words = 0;   // uint32 words per quantized row
  int64_t groups = 0;  // groups per row
  int64_t param_bytes = 0;  // bytes per scale/bias element
  const ScratchFn* scratch = nullptr;  // where the prepared copies of x come from (else new[])
};

// A float buffer of at least n elements that stays valid while the pointer is held.
// Prefill (T > 4) takes the backend's pool, where the copy reuses a freed activation buffer at
// the memory peak; a decode step's copy is small and comes from the heap (measured faster).
inline std::shared_ptr<float> scratch_buffer(const Job& job, int64_t n) {
  if (job.T > 4 && job.scratch && *job.scratch) return (*job.scratch)(n);
  return std::shared_ptr<float>(new float[static_cast<size_t>(std::max<int64_t>(n, 1))],
                                std::default_delete<float[]>());
}

// The power of two that QValue<bits> (below) multiplies element j of a word by.
inline float QScale(int bits, int j) {
  const int e = (j + 1) * bits <= 31 ? bits * j : bits * (j - 1);
  return std::ldexp(1.0f, e);
}

}  // namespace ollmlx::cpu::linear_detail
#endif  // OLLMLX_CPU_LINEAR_SHARED

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/linear.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace ollmlx::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using linear_detail::Job;
namespace {  // internal to this file (other kernel files use the same helper names)

using DF = hn::ScalableTag<float>;
using DU = hn::ScalableTag<uint32_t>;
using DI = hn::ScalableTag<int32_t>;
using VF = hn::Vec<DF>;
using IdxF = decltype(hn::SetTableIndices(DF(), static_cast<const int32_t*>(nullptr)));

// Per-thread scratch buffers (reused across calls; grown on demand).
struct Scratch {
  std::vector<float> tile;    // [4][KP]
  std::vector<float> scales;  // [rows][groups + lanes]
  std::vector<float> biases;
  std::vector<uint32_t> words;  // tail chunk of a row, zero padded
};
Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

// Length of a row in the working layout: a whole number of vectors.
//  quantized, bits 2/4/8 ("permuted"): chunks of L words = L*E elements;
//  otherwise ("natural"): K rounded up to L.
struct Layout {
  bool permuted = false;
  int E = 0;            // elements per word (permuted)
  int64_t chunks = 0;   // vectors of words per row (permuted)
  int64_t KP = 0;       // padded row length in elements
};

Layout MakeLayout(const Job& job) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  Layout lay;
  lay.permuted = !job.fp && (job.bits == 2 || job.bits == 4 || job.bits == 8);
  if (lay.permuted) {
    lay.E = 32 / job.bits;
    lay.chunks = (job.words + L - 1) / L;
    lay.KP = lay.chunks * L * lay.E;
  } else {
    lay.KP = (job.K + L - 1) / L * L;
  }
  return lay;
}

// xp[t][(c*E + j)*L + l] = x[t][(c*L + l)*E + j] / QScale(j) (permuted) or x padded with zeros
// (natural);
// xs[t][c*L + l] = sum_j of that word's elements (permuted only; the bias term).
void PrepareX(const Job& job, const Layout& lay, float* xp, float* xs) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  job.pool->parallel_for(job.T, 8, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* x = job.x + t * job.K;
      float* out = xp + t * lay.KP;
      if (!lay.permuted) {
        std::memcpy(out, x, static_cast<size_t>(job.K) * sizeof(float));
        std::fill(out + job.K, out + lay.KP, 0.0f);
        continue;
      }
      float* sums = xs + t * lay.chunks * L;
      const int E = lay.E;
      float inv_scale[32];
      for (int j = 0; j < E; ++j) inv_scale[j] = 1.0f / linear_detail::QScale(job.bits, j);
      for (int64_t c = 0; c < lay.chunks; ++c) {
        for (int64_t l = 0; l < L; ++l) {
          const int64_t base = (c * L + l) * E;
          float s = 0.0f;
          for (int j = 0; j < E; ++j) {
            const int64_t k = base + j;
            const float v = k < job.K ? x[k] : 0.0f;
            out[(c * E + j) * L + l] = v * inv_scale[j];  // exact: a power of two
            s += v;
          }
          sums[c * L + l] = s;
        }
      }
    }
  });
}

// n float values of t (F32/F16/BF16) from element `offset`, vectorised (F16C/bf16 shifts).
void ConvertRow(const Tensor& t, int64_t offset, int64_t n, float* out) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  const hn::CappedTag<float, 1> d1;
  if (t.dtype == DType::F16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    const hn::Rebind<hwy::float16_t, decltype(d1)> dh1;
    const hwy::float16_t* p = t.ptr<const hwy::float16_t>() + offset;
    for (; i + L <= n; i += L) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, p + i)), df, out + i);
    for (; i < n; ++i) hn::StoreU(hn::PromoteTo(d1, hn::LoadU(dh1, p + i)), d1, out + i);
  } else if (t.dtype == DType::BF16) {
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    const hwy::bfloat16_t* p = t.ptr<const hwy::bfloat16_t>() + offset;
    for (; i + L <= n; i += L) hn::StoreU(hn::PromoteTo(df, hn::LoadU(db, p + i)), df, out + i);
  }
  if (i < n) to_f32(t, offset + i, n - i, out + i);
}

// Float32 scales and biases of rows [n, n + nr) (contiguous in the file: row r at r * groups),
// padded with L zeros so vector loads stay in bounds.
void RowParams(const Job& job, int64_t n, int64_t nr, float* sc, float* bi) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const int64_t count = nr * job.groups;
  ConvertRow(job.w->scales, n * job.groups, count, sc);
  ConvertRow(job.w->biases, n * job.groups, count, bi);
  std::fill(sc + count, sc + count + L, 0.0f);
  std::fill(bi + count, bi + count + L, 0.0f);
}

// Element j of every word of w, as float. Elements are masked in place rather than shifted down
// (one instruction less): the value is q * 2^(BITS*j), and x is pre-scaled by 2^-(BITS*j) in
// PrepareX, which is exact. The top element of a word would not fit a signed int32, so it is
// shifted down by BITS first (scale 2^(BITS*(j-1))).
template <int BITS>
HWY_INLINE VF QValue(hn::Vec<DU> w, int j) {
  const DU du;
  const DI di;
  constexpr uint32_t kMask = (1u << BITS) - 1u;
  if ((j + 1) * BITS <= 31)
    return hn::ConvertTo(DF(), hn::BitCast(di, hn::And(w, hn::Set(du, kMask << (BITS * j)))));
  return hn::ConvertTo(DF(), hn::BitCast(di, hn::And(hn::ShiftRight<BITS>(w), hn::Set(du, kMask << (BITS * (j - 1))))));
}


// Lane pattern for per-word group parameters: words per group (wpg) vs lanes.
struct GroupLanes {
  bool broadcast = false;  // a vector of words lies inside one group
  int64_t wpg = 0;
  int wpg_shift = 0;       // log2(wpg): words per group is a power of two
  IdxF idx;                // lane l -> group offset l / wpg (when !broadcast)
};

GroupLanes MakeGroupLanes(const Job& job) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  GroupLanes g;
  g.wpg = static_cast<int64_t>(job.group_size) * job.bits / 32;
  g.broadcast = g.wpg >= L;
  while ((int64_t{1} << g.wpg_shift) < g.wpg) ++g.wpg_shift;
  int32_t idx[64] = {0};
  for (int64_t l = 0; l < L && l < 64; ++l) idx[l] = g.broadcast ? 0 : static_cast<int32_t>(l / g.wpg);
  g.idx = hn::SetTableIndices(df, idx);
  return g;
}

// The per-lane group parameter of chunk c from p (one row's float32 scales or biases). BCAST
// must equal g.broadcast; the decode kernel fixes it at compile time.
template <bool BCAST>
HWY_INLINE VF GroupVecT(const GroupLanes& g, const float* p, int64_t c, int64_t L) {
  const DF df;
  const int64_t g0 = (c * L) >> g.wpg_shift;
  if (BCAST) return hn::Set(df, p[g0]);
  return hn::TableLookupLanes(hn::LoadU(df, p + g0), g.idx);
}

HWY_INLINE VF GroupVec(const GroupLanes& g, const float* p, int64_t c, int64_t L) {
  return g.broadcast ? GroupVecT<true>(g, p, c, L) : GroupVecT<false>(g, p, c, L);
}

// Loads chunk c (L words) of a quantized row; the last chunk is zero padded.
HWY_INLINE hn::Vec<DU> LoadWords(const uint32_t* row, int64_t c, int64_t L, int64_t words,
                                 uint32_t* tail) {
  const DU du;
  if ((c + 1) * L <= words) return hn::LoadU(du, row + c * L);
  const int64_t n = words - c * L;
  std::memcpy(tail, row + c * L, static_cast<size_t>(n) * sizeof(uint32_t));
  std::fill(tail + n, tail + L, 0u);
  return hn::LoadU(du, tail);
}

// ---- fused decode kernel --------------------------------------------------------------------

// out[r][t] = row (n0 + r) . x_t for NR rows and NT tokens, straight from the packed words.
// sc/bi hold the float32 scales/biases of these rows (row r at r * groups); `tail` has room for
// NR * L words. BCAST: every chunk lies inside one group (GroupLanes::broadcast).
// The loop body makes no function call (the zero-padded last chunk is copied out before it), so
// the compiler keeps the totals and masks in registers; with a call inside, g++ kept them on
// the stack and the kernel ran at half speed.
template <int BITS, int NR, int NT, bool BCAST>
void FusedBlock(const Job& job, const Layout& lay, const GroupLanes& gl, int64_t n0,
                const float* xp, const float* xs, int64_t t0, const float* sc, const float* bi,
                uint32_t* tail) {
  const DF df;
  const DU du;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  constexpr int E = 32 / BITS;
  const int64_t words = job.words;
  const uint32_t* w0 = job.w->weight.ptr<const uint32_t>() + n0 * words;
  const int64_t full = words / L;  // chunks read in place; chunk `full` (if any) from `tail`
  if (full < lay.chunks) {
    const int64_t n = words - full * L;
    for (int r = 0; r < NR; ++r) {
      std::memcpy(tail + r * L, w0 + r * words + full * L, static_cast<size_t>(n) * sizeof(uint32_t));
      std::fill(tail + r * L + n, tail + (r + 1) * L, 0u);
    }
  }
  const float* xt[NT];
  const float* st[NT];
  for (int t = 0; t < NT; ++t) {
    xt[t] = xp + (t0 + t) * lay.KP;
    st[t] = xs + (t0 + t) * lay.chunks * L;
  }
  VF total[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) total[r][t] = hn::Zero(df);

  for (int64_t c = 0; c < lay.chunks; ++c) {
    const bool in_place = c < full;
    hn::Vec<DU> w[NR];
    for (int r = 0; r < NR; ++r)
      w[r] = hn::LoadU(du, in_place ? w0 + r * words + c * L : tail + r * L);
    VF acc[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = hn::Zero(df);
    const float* xc[NT];
    for (int t = 0; t < NT; ++t) xc[t] = xt[t] + c * E * L;
#pragma GCC unroll 16
    for (int j = 0; j < E; ++j) {
      VF xv[NT];
      for (int t = 0; t < NT; ++t) xv[t] = hn::LoadU(df, xc[t] + j * L);
      for (int r = 0; r < NR; ++r) {
        const VF q = QValue<BITS>(w[r], j);
        for (int t = 0; t < NT; ++t) acc[r][t] = hn::MulAdd(q, xv[t], acc[r][t]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      const VF s = GroupVecT<BCAST>(gl, sc + r * job.groups, c, L);
      const VF b = GroupVecT<BCAST>(gl, bi + r * job.groups, c, L);
      for (int t = 0; t < NT; ++t) {
        total[r][t] = hn::MulAdd(acc[r][t], s, total[r][t]);
        total[r][t] = hn::MulAdd(b, hn::LoadU(df, st[t] + c * L), total[r][t]);
      }
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t)
      job.y[(t0 + t) * job.N + n0 + r] = hn::GetLane(hn::SumOfLanes(df, total[r][t]));
}

// Asks the hardware to start loading the packed words, scales and biases of rows [n0, n0 + nr).
// A decode step reads every weight once, and a thread's blocks are consecutive rows, so the rows
// a few blocks ahead are the next it needs. The kernel reads 4 rows at a time (4 interleaved
// streams, each row only a few cache lines: a 576-wide 8-bit row is 9) plus the separate scale
// and bias arrays, a pattern the hardware prefetcher does not follow well. Measured (bench_linear,
// one thread, weights streamed from DRAM, dev-2c): the 8-bit 49152 x 576 LM head of SmolLM2
// 5.3 -> 9.6 GMAC/s, the 4-bit 576 x 1536 down projection 7.8 -> 8.4 (medians of 4 alternated
// runs); 2 or 8 blocks ahead were slower than 4.
constexpr int64_t kPrefetchBlocks = 4;

void PrefetchRows(const Job& job, int64_t n0, int64_t nr) {
  constexpr uintptr_t kLine = 64;
  // Every line of [p, p + bytes), including a partial first and last line.
  const auto touch = [](const uint8_t* p, int64_t bytes) {
    if (bytes <= 0) return;
    const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~(kLine - 1);
    const uintptr_t last = (reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(bytes) - 1) & ~(kLine - 1);
    for (uintptr_t a = first; a <= last; a += kLine) prefetch_line(reinterpret_cast<const void*>(a));
  };
  const int64_t wbytes = job.words * 4;
  touch(job.w->weight.ptr<const uint8_t>() + n0 * wbytes, nr * wbytes);
  const int64_t pbytes = job.param_bytes * job.groups;
  touch(job.w->scales.ptr<const uint8_t>() + n0 * pbytes, nr * pbytes);
  touch(job.w->biases.ptr<const uint8_t>() + n0 * pbytes, nr * pbytes);
}

// Blocks [b0, b1) of 4 rows of one decode job (T <= 4).
template <int BITS, bool BCAST>
void FusedBlocks(const Job& job, const Layout& lay, const GroupLanes& gl, const float* xp,
                 const float* xs, int64_t b0, int64_t b1) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  constexpr int kRows = 4;
  Scratch& s = scratch();
  s.scales.resize(static_cast<size_t>(kRows * job.groups + L));
  s.biases.resize(s.scales.size());
  s.words.resize(static_cast<size_t>(kRows * L));
  float* sc = s.scales.data();
  float* bi = s.biases.data();
  uint32_t* tail = s.words.data();
  // The first blocks of the range were not prefetched by an earlier block: ask for all of them
  // at once rather than stalling on each in turn.
  for (int64_t b = b0; b < std::min(b1, b0 + kPrefetchBlocks); ++b)
    PrefetchRows(job, b * kRows, std::min<int64_t>(kRows, job.N - b * kRows));
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t n0 = b * kRows;
    const int64_t nr = std::min<int64_t>(kRows, job.N - n0);
    const int64_t ahead = n0 + kPrefetchBlocks * kRows;
    if (ahead < job.N) PrefetchRows(job, ahead, std::min<int64_t>(kRows, job.N - ahead));
    RowParams(job, n0, nr, sc, bi);
    int64_t t = 0;
    if (nr == kRows) {
      const int64_t g2 = 2 * job.groups;
      for (; t + 2 <= job.T; t += 2) {
        FusedBlock<BITS, 2, 2, BCAST>(job, lay, gl, n0, xp, xs, t, sc, bi, tail);
        FusedBlock<BITS, 2, 2, BCAST>(job, lay, gl, n0 + 2, xp, xs, t, sc + g2, bi + g2, tail);
      }
      if (t < job.T) FusedBlock<BITS, 4, 1, BCAST>(job, lay, gl, n0, xp, xs, t, sc, bi, tail);
    } else {
      for (int64_t r = 0; r < nr; ++r)
        for (int64_t tt = 0; tt < job.T; ++tt)
          FusedBlock<BITS, 1, 1, BCAST>(job, lay, gl, n0 + r, xp, xs, tt, sc + r * job.groups,
                                 bi + r * job.groups, tail);
    }
  }
}

void FusedBlocksAnyBits(const Job& job, const Layout& lay, const GroupLanes& gl, const float* xp,
                        const float* xs, int64_t b0, int64_t b1) {
  const bool bc = gl.broadcast;
  switch (job.bits) {
    case 2: return bc ? FusedBlocks<2, true>(job, lay, gl, xp, xs, b0, b1)
                      : FusedBlocks<2, false>(job, lay, gl, xp, xs, b0, b1);
    case 4: return bc ? FusedBlocks<4, true>(job, lay, gl, xp, xs, b0, b1)
                      : FusedBlocks<4, false>(job, lay, gl, xp, xs, b0, b1);
    default: return bc ? FusedBlocks<8, true>(job, lay, gl, xp, xs, b0, b1)
                       : FusedBlocks<8, false>(job, lay, gl, xp, xs, b0, b1);
  }
}

void RunFused(const Job& job, const Layout& lay, const float* xp, const float* xs) {
  const GroupLanes gl = MakeGroupLanes(job);
  const int64_t blocks = (job.N + 3) / 4;
  job.pool->parallel_for(blocks, 8, [&](int64_t b0, int64_t b1) {
    FusedBlocksAnyBits(job, lay, gl, xp, xs, b0, b1);
  });
}

// ---- tiled kernels --------------------------------------------------------------------------

// Permuted formats (bits 2/4/8): rows [n0, n0+nr) are decoded into a tile of, per chunk c, E
// vectors of q (as float) followed by the chunk's scale and bias vectors, so TileBlockQ performs
// exactly the per-(row, token) operations of FusedBlock: results do not depend on the number of
// tokens in the batch (batched logits equal separate runs, bit for bit).
template <int BITS>
void DecodeRowsQ(const Job& job, const Layout& lay, const GroupLanes& gl, int64_t n0, int64_t nr,
                 float* tile, Scratch& s) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  constexpr int E = 32 / BITS;
  s.scales.resize(static_cast<size_t>(job.groups + L));
  s.biases.resize(s.scales.size());
  s.words.resize(static_cast<size_t>(L));
  const int64_t row_len = lay.chunks * (E + 2) * L;
  for (int64_t r = 0; r < nr; ++r) {
    const uint32_t* row = job.w->weight.ptr<const uint32_t>() + (n0 + r) * job.words;
    RowParams(job, n0 + r, 1, s.scales.data(), s.biases.data());
    float* out = tile + r * row_len;
    for (int64_t c = 0; c < lay.chunks; ++c) {
      const auto w = LoadWords(row, c, L, job.words, s.words.data());
      float* o = out + c * (E + 2) * L;
      for (int j = 0; j < E; ++j)
        hn::StoreU(QValue<BITS>(w, j), df, o + j * L);
      hn::StoreU(GroupVec(gl, s.scales.data(), c, L), df, o + E * L);
      hn::StoreU(GroupVec(gl, s.biases.data(), c, L), df, o + (E + 1) * L);
    }
  }
}

template <int BITS, int MR, int NT>
void TileBlockQ(const Job& job, const Layout& lay, const float* tile, const float* xp,
                const float* xs, int64_t t0, int64_t n0) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  constexpr int E = 32 / BITS;
  const int64_t row_len = lay.chunks * (E + 2) * L;
  VF total[MR][NT];
  for (int r = 0; r < MR; ++r)
    for (int t = 0; t < NT; ++t) total[r][t] = hn::Zero(df);
  for (int64_t c = 0; c < lay.chunks; ++c) {
    VF acc[MR][NT];
    for (int r = 0; r < MR; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = hn::Zero(df);
    const float* q[MR];
    for (int r = 0; r < MR; ++r) q[r] = tile + r * row_len + c * (E + 2) * L;
    const float* xc[NT];
    for (int t = 0; t < NT; ++t) xc[t] = xp + (t0 + t) * lay.KP + c * E * L;
    for (int j = 0; j < E; ++j) {
      VF xv[NT];
      for (int t = 0; t < NT; ++t) xv[t] = hn::LoadU(df, xc[t] + j * L);
      for (int r = 0; r < MR; ++r) {
        const VF qv = hn::LoadU(df, q[r] + j * L);
        for (int t = 0; t < NT; ++t) acc[r][t] = hn::MulAdd(qv, xv[t], acc[r][t]);
      }
    }
    for (int r = 0; r < MR; ++r) {
      const VF sv = hn::LoadU(df, q[r] + E * L);
      const VF bv = hn::LoadU(df, q[r] + (E + 1) * L);
      for (int t = 0; t < NT; ++t) {
        total[r][t] = hn::MulAdd(acc[r][t], sv, total[r][t]);
        total[r][t] = hn::MulAdd(bv, hn::LoadU(df, xs + (t0 + t) * lay.chunks * L + c * L), total[r][t]);
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int t = 0; t < NT; ++t)
      job.y[(t0 + t) * job.N + n0 + r] = hn::GetLane(hn::SumOfLanes(df, total[r][t]));
}

template <int BITS, int MR>
void TileRowsQ(const Job& job, const Layout& lay, const float* tile, const float* xp,
               const float* xs, int64_t n0) {
  int64_t t = 0;
  for (; t + 3 <= job.T; t += 3) TileBlockQ<BITS, MR, 3>(job, lay, tile, xp, xs, t, n0);
  for (; t < job.T; ++t) TileBlockQ<BITS, MR, 1>(job, lay, tile, xp, xs, t, n0);
}

template <int BITS>
void RunTiledQBits(const Job& job, const Layout& lay, const float* xp, const float* xs) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const GroupLanes gl = MakeGroupLanes(job);
  constexpr int kRows = 2;
  const int64_t row_len = lay.chunks * (lay.E + 2) * L;
  const int64_t blocks = (job.N + kRows - 1) / kRows;
  job.pool->parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
    Scratch& s = scratch();
    s.tile.resize(static_cast<size_t>(kRows * row_len));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n0 = b * kRows;
      const int64_t nr = std::min<int64_t>(kRows, job.N - n0);
      DecodeRowsQ<BITS>(job, lay, gl, n0, nr, s.tile.data(), s);
      if (nr == 2)
        TileRowsQ<BITS, 2>(job, lay, s.tile.data(), xp, xs, n0);
      else
        TileRowsQ<BITS, 1>(job, lay, s.tile.data(), xp, xs, n0);
    }
  });
}

void RunTiledQ(const Job& job, const Layout& lay, const float* xp, const float* xs) {
  switch (job.bits) {
    case 2: return RunTiledQBits<2>(job, lay, xp, xs);
    case 4: return RunTiledQBits<4>(job, lay, xp, xs);
    default: return RunTiledQBits<8>(job, lay, xp, xs);
  }
}

// Natural formats (dense F32/F16/BF16 and affine 3/5/6-bit): 4 rows are dequantized (scale*q +
// bias in float32) into a tile, then a 4-row x 3-token dot-product kernel runs over all tokens.
void DequantRows(const Job& job, const Layout& lay, int64_t n0, int64_t nr, float* tile,
                 Scratch& s) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  if (job.bits == 0) {
    for (int64_t r = 0; r < nr; ++r) {
      float* out = tile + r * lay.KP;
      ConvertRow(job.w->weight, (n0 + r) * job.K, job.K, out);
      std::fill(out + job.K, out + lay.KP, 0.0f);
    }
    return;
  }
  if (job.fp) {
    for (int64_t r = 0; r < nr; ++r) {
      float* out = tile + r * lay.KP;
      fpq::decode_row(*job.w, n0 + r, 0, job.K, out);
      std::fill(out + job.K, out + lay.KP, 0.0f);
    }
    return;
  }
  s.scales.resize(static_cast<size_t>(job.groups + L));
  s.biases.resize(s.scales.size());
  float* sc = s.scales.data();
  float* bi = s.biases.data();
  const int bits = job.bits, gs = job.group_size;
  for (int64_t r = 0; r < nr; ++r) {
    const uint32_t* row = job.w->weight.ptr<const uint32_t>() + (n0 + r) * job.words;
    float* out = tile + r * lay.KP;
    RowParams(job, n0 + r, 1, sc, bi);
    for (int64_t k = 0; k < job.K; ++k) {
      const int64_t g = k / gs;
      out[k] = static_cast<float>(packed_element(row, k, bits)) * sc[g] + bi[g];
    }
    std::fill(out + job.K, out + lay.KP, 0.0f);
  }
}

// y[t][n0 + r] = tile_r . xp_t for MR rows and NT tokens.
template <int MR, int NT>
void TileBlock(const float* tile, int64_t KP, const float* xp, int64_t t0, float* y, int64_t N,
               int64_t n0) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  VF acc[MR][NT];
  for (int r = 0; r < MR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = hn::Zero(df);
  const float* xt[NT];
  for (int t = 0; t < NT; ++t) xt[t] = xp + (t0 + t) * KP;
  for (int64_t k = 0; k < KP; k += L) {
    VF xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = hn::LoadU(df, xt[t] + k);
    for (int r = 0; r < MR; ++r) {
      const VF w = hn::LoadU(df, tile + r * KP + k);
      for (int t = 0; t < NT; ++t) acc[r][t] = hn::MulAdd(w, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int t = 0; t < NT; ++t) y[(t0 + t) * N + n0 + r] = hn::GetLane(hn::SumOfLanes(df, acc[r][t]));
}

template <int MR>
void TileRows(const float* tile, int64_t KP, const float* xp, int64_t T, float* y, int64_t N,
              int64_t n0) {
  int64_t t = 0;
  for (; t + 3 <= T; t += 3) TileBlock<MR, 3>(tile, KP, xp, t, y, N, n0);
  for (; t < T; ++t) TileBlock<MR, 1>(tile, KP, xp, t, y, N, n0);
}

void RunTiled(const Job& job, const Layout& lay, const float* xp) {
  constexpr int kRows = 4;
  const int64_t blocks = (job.N + kRows - 1) / kRows;
  job.pool->parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
    Scratch& s = scratch();
    s.tile.resize(static_cast<size_t>(kRows * lay.KP));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n0 = b * kRows;
      const int64_t nr = std::min<int64_t>(kRows, job.N - n0);
      DequantRows(job, lay, n0, nr, s.tile.data(), s);
      switch (nr) {
        case 4: TileRows<4>(s.tile.data(), lay.KP, xp, job.T, job.y, job.N, n0); break;
        case 3: TileRows<3>(s.tile.data(), lay.KP, xp, job.T, job.y, job.N, n0); break;
        case 2: TileRows<2>(s.tile.data(), lay.KP, xp, job.T, job.y, job.N, n0); break;
        default: TileRows<1>(s.tile.data(), lay.KP, xp, job.T, job.y, job.N, n0); break;
      }
    }
  });
}

}  // namespace

void RunLinear(const Job& job) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const Layout lay = MakeLayout(job);
  // Every element of xp/xs is written by PrepareX (no zero-initialisation needed).
  const std::shared_ptr<float> xp = scratch_buffer(job, job.T * lay.KP);
  const std::shared_ptr<float> xs = scratch_buffer(job, lay.permuted ? job.T * lay.chunks * L : 1);
  PrepareX(job, lay, xp.get(), xs.get());
  if (!lay.permuted)
    RunTiled(job, lay, xp.get());
  else if (job.T <= 4)
    RunFused(job, lay, xp.get(), xs.get());
  else
    RunTiledQ(job, lay, xp.get(), xs.get());
}

// Several decode jobs on the same input (q/k/v, gate/up; the caller checked that they share T
// <= 4, K, bits and the permuted layout): x is prepared once and all their row blocks run as one
// parallel region, so the threads wait for each other once instead of once per matrix.
void RunLinearMulti(const std::vector<Job>& jobs) {
  const Job& first = jobs.front();
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const Layout lay = MakeLayout(first);
  const std::shared_ptr<float> xp = scratch_buffer(first, first.T * lay.KP);
  const std::shared_ptr<float> xs = scratch_buffer(first, first.T * lay.chunks * L);
  PrepareX(first, lay, xp.get(), xs.get());
  struct Range {
    size_t job;
    int64_t b0, b1;
  };
  // Guided chunks over the blocks of all matrices in order (ThreadPool::guided_chunks), cut where
  // a matrix ends: a task never spans two matrices.
  std::vector<int64_t> starts;  // first block of each matrix in the concatenation
  int64_t total = 0;
  for (const Job& j : jobs) {
    starts.push_back(total);
    total += (j.N + 3) / 4;
  }
  std::vector<Range> tasks;
  int64_t begin = 0;
  size_t m = 0;
  for (const int64_t end : ThreadPool::guided_chunks(total, 4, first.pool->size())) {
    for (int64_t b = begin; b < end;) {
      while (m + 1 < jobs.size() && starts[m + 1] <= b) ++m;
      const int64_t stop = m + 1 < jobs.size() ? std::min(end, starts[m + 1]) : end;
      tasks.push_back({m, b - starts[m], stop - starts[m]});
      b = stop;
    }
    begin = end;
  }
  first.pool->run(static_cast<int64_t>(tasks.size()), [&](int64_t t, int) {
    const Range& r = tasks[static_cast<size_t>(t)];
    // GroupLanes holds a vector register: made here, not kept in a std::vector (whose storage
    // is not aligned for it).
    const GroupLanes gl = MakeGroupLanes(jobs[r.job]);
    FusedBlocksAnyBits(jobs[r.job], lay, gl, xp.get(), xs.get(), r.b0, r.b1);
  });
}

}  // namespace ollmlx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ollmlx::cpu {

HWY_EXPORT(RunLinear);
HWY_EXPORT(RunLinearMulti);

namespace {

linear_detail::Job make_job(ThreadPool& pool, const float* x, int64_t T, const Linear& w, float* y,
                            const ScratchFn* scratch) {
  linear_detail::Job job;
  job.scratch = scratch;
  job.x = x;
  job.T = T;
  job.w = &w;
  job.y = y;
  job.pool = &pool;
  job.N = w.out;
  job.K = w.in;
  if (w.quantized()) {
    job.fp = fpq::is_fp_mode(w.quant.mode);
    if (!job.fp && w.quant.mode != QuantMode::Affine)
      throw_error("cpu", "linear {}: {} is not supported by the cpu backend", w.name,
                  quant_str(w.quant));
    job.bits = w.quant.bits;
    job.group_size = w.quant.group_size;
    job.words = w.in * job.bits / 32;
    job.groups = w.in / job.group_size;
    job.param_bytes = static_cast<int64_t>(dtype_size(w.scales.dtype));
  }
  return job;
}

void add_bias(const Linear& w, int64_t T, float* y) {
  if (!w.has_bias()) return;
  std::vector<float> b(static_cast<size_t>(w.out));
  to_f32(w.bias, 0, w.out, b.data());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < w.out; ++n) y[t * w.out + n] += b[static_cast<size_t>(n)];
}

// The decode kernel with the permuted layout (affine 2/4/8-bit) serves this job.
bool fused_decode(const linear_detail::Job& j) {
  return j.T >= 1 && j.T <= 4 && !j.fp && (j.bits == 2 || j.bits == 4 || j.bits == 8);
}

}  // namespace

void linear(ThreadPool& pool, const float* x, int64_t T, const Linear& w, float* y,
            const ScratchFn* scratch) {
  const linear_detail::Job job = make_job(pool, x, T, w, y, scratch);
  if (T > 0) HWY_DYNAMIC_DISPATCH(RunLinear)(job);
  add_bias(w, T, y);
}

void linear_multi(ThreadPool& pool, const float* x, int64_t T, const std::vector<const Linear*>& ws,
                  const std::vector<float*>& ys, const ScratchFn* scratch) {
  std::vector<linear_detail::Job> jobs;
  for (size_t i = 0; i < ws.size(); ++i) jobs.push_back(make_job(pool, x, T, *ws[i], ys[i], scratch));
  bool together = jobs.size() > 1;
  for (const auto& j : jobs)
    together = together && fused_decode(j) && j.bits == jobs[0].bits && j.K == jobs[0].K;
  if (together) {
    HWY_DYNAMIC_DISPATCH(RunLinearMulti)(jobs);
  } else {
    for (const auto& j : jobs)
      if (T > 0) HWY_DYNAMIC_DISPATCH(RunLinear)(j);
  }
  for (size_t i = 0; i < ws.size(); ++i) add_bias(*ws[i], T, ys[i]);
}

}  // namespace ollmlx::cpu
#endif  // HWY_ONCE
