// Sampling on the GPU (issue 7): penalties, the filters of sample/sampler.cpp in either order
// (mlx-lm's: top_p, min_p, top_k on untempered log-probs; Ollama's: top_k, temperature, softmax,
// top_p, min_p) and the draw, so only the chosen ids cross to the host. The host's semantics are
// kept operation for operation:
//  * penalties, log-softmax and tempering round to float32 at the same places (no contraction:
//    __f*_rn), and the values libm would give (1/temperature, log(min_p)) come from the host;
//  * candidates are ordered like the host's sort (descending, ties to the lower id): one stable
//    radix sort of (row, order-preserving bits of the value) keys over all rows at once, -0.0
//    folded into +0.0 and NaN into -inf first (the host's comparator treats -0 == +0); or, when
//    no row looks past its top_k <= kSampleSelectMax best candidates, a per-row selection of
//    those (k_sample_select), which the caller picks from 8 rows up (faster there);
//  * every filter keeps a prefix of that order, found with running sums in double precision, and
//    the draw takes the first candidate whose running weight reaches u01 * total, u01 being the
//    uniform number the host sampler drew.
// Only the order of the double-precision summations differs from the host (parallel, not
// sequential), so a draw can differ only where u01 * total lies within rounding (~1e-16
// relative) of a boundary between two candidates. Rows whose largest logit / temperature is not
// finite (Ollama order) pick the largest logit.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cub/cub.cuh>

#include "backend/cuda/kernels.h"

namespace ollmlx::cuda {
namespace {

constexpr int kThreads = 1024;
static_assert(kSampleSelectMax <= kThreads, "one candidate per thread");
using BlockScanD = cub::BlockScan<double, kThreads>;
using BlockReduceD = cub::BlockReduce<double, kThreads>;
using BlockReduceF = cub::BlockReduce<float, kThreads>;

struct MaxF {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Order-preserving unsigned bits of a float (ascending) and back.
__device__ __forceinline__ uint32_t order_bits(float v) {
  const uint32_t u = __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float from_order_bits(uint32_t o) {
  return __uint_as_float((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}

// Row r's value of sorted position i: keys hold (r << 32) | ~order_bits(v), ascending.
__device__ __forceinline__ float sorted_value(const uint64_t* keys, int64_t i) {
  return from_order_bits(~static_cast<uint32_t>(keys[i]));
}

// Penalties (as Sampler::sample), then for mlx-lm's order log-softmax; writes the sort keys and
// the ids of row blockIdx.x.
__global__ void __launch_bounds__(kThreads) k_sample_prepare(const float* __restrict__ x, int64_t vocab,
                                                             const SampleRow* __restrict__ params,
                                                             const int32_t* __restrict__ counts,
                                                             float* __restrict__ work, uint64_t* __restrict__ keys,
                                                             int32_t* __restrict__ ids) {
  const int64_t r = blockIdx.x;
  const SampleRow p = params[r];
  const float* xr = x + r * vocab;
  float* wr = work + r * vocab;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) wr[i] = xr[i];
  __syncthreads();
  for (int c = p.counts_begin + static_cast<int>(threadIdx.x); c < p.counts_end; c += kThreads) {
    const int32_t tok = counts[2 * c], n = counts[2 * c + 1];
    if (tok < 0 || tok >= vocab) continue;
    float l = wr[tok];
    if (p.repeat_penalty != 1.0f) l = l < 0.0f ? __fmul_rn(l, p.repeat_penalty) : __fdiv_rn(l, p.repeat_penalty);
    const float sub = __fadd_rn(p.presence_penalty, __fmul_rn(p.frequency_penalty, static_cast<float>(n)));
    wr[tok] = __fsub_rn(l, sub);
  }
  __syncthreads();
  float lse = 0.0f;
  const bool logsoftmax = p.temperature > 0.0f && p.mlx_order;
  if (logsoftmax) {
    __shared__ typename BlockReduceF::TempStorage tf;
    __shared__ typename BlockReduceD::TempStorage td;
    __shared__ float s_mx;
    __shared__ double s_sum;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < vocab; i += kThreads) mx = fmaxf(mx, wr[i]);
    mx = BlockReduceF(tf).Reduce(mx, MaxF());
    if (threadIdx.x == 0) s_mx = mx;
    __syncthreads();
    mx = s_mx;
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < vocab; i += kThreads) sum += exp(static_cast<double>(__fsub_rn(wr[i], mx)));
    sum = BlockReduceD(td).Sum(sum);
    if (threadIdx.x == 0) s_sum = sum;
    __syncthreads();
    lse = __fadd_rn(mx, static_cast<float>(log(s_sum)));
  }
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    float v = wr[i];
    if (logsoftmax) v = __fsub_rn(v, lse);
    if (v != v) v = -INFINITY;
    if (v == 0.0f) v = 0.0f;  // -0.0 -> +0.0
    keys[r * vocab + i] = (static_cast<uint64_t>(r) << 32) | (~order_bits(v) & 0xffffffffu);
    ids[r * vocab + i] = static_cast<int32_t>(i);
  }
}

// Rows that need only their select_k (<= kThreads) best candidates (every row has a top_k, or is
// greedy) skip the full sort: the select_k smallest keys of a row (largest values, ties to the
// lower id) are found by radix selection over the low 32 key bits (4 passes of 8 bits), gathered
// (those below the threshold, then the lowest ids equal to it) and sorted in the block; they go
// to the first select_k entries of the row's sorted output, which is all k_sample_pick reads.
__global__ void __launch_bounds__(kThreads) k_sample_select(int64_t vocab, int k, const uint64_t* __restrict__ keys,
                                                            uint64_t* __restrict__ sorted_keys,
                                                            int32_t* __restrict__ sorted_ids) {
  using BlockScanI = cub::BlockScan<int, kThreads>;
  using BlockSort = cub::BlockRadixSort<uint64_t, kThreads, 1>;
  __shared__ union {
    typename BlockScanI::TempStorage scan;
    typename BlockSort::TempStorage sort;
  } tmp;
  __shared__ unsigned hist[256];
  __shared__ uint64_t cand[kThreads];
  __shared__ uint32_t s_prefix;
  __shared__ int s_remaining, n_less;
  const int64_t r = blockIdx.x;
  const uint64_t* kr = keys + r * vocab;
  const int tid = static_cast<int>(threadIdx.x);
  uint32_t prefix = 0, mask = 0;
  int remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (tid < 256) hist[tid] = 0;
    __syncthreads();
    for (int64_t i = tid; i < vocab; i += kThreads) {
      const auto u = static_cast<uint32_t>(kr[i]);
      if ((u & mask) == prefix) atomicAdd(&hist[(u >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (tid == 0) {
      int rem = remaining;
      uint32_t d = 0;
      for (; d < 255; ++d) {
        if (static_cast<int>(hist[d]) >= rem) break;
        rem -= static_cast<int>(hist[d]);
      }
      s_prefix = prefix | (d << shift);
      s_remaining = rem;
    }
    __syncthreads();
    prefix = s_prefix;
    remaining = s_remaining;
    mask |= 255u << shift;
  }
  // prefix is the k-th smallest value; `remaining` of the entries equal to it are taken.
  if (tid == 0) n_less = 0;
  __syncthreads();
  const int64_t chunk = (vocab + kThreads - 1) / kThreads, lo = tid * chunk, hi = min(vocab, lo + chunk);
  int equal = 0;
  for (int64_t i = lo; i < hi; ++i) {
    const auto u = static_cast<uint32_t>(kr[i]);
    if (u < prefix) cand[atomicAdd(&n_less, 1)] = (static_cast<uint64_t>(u) << 32) | static_cast<uint32_t>(i);
    equal += u == prefix;
  }
  int before = 0;
  BlockScanI(tmp.scan).ExclusiveSum(equal, before);
  __syncthreads();
  const int base = n_less;  // == k - remaining
  for (int64_t i = lo; i < hi && before < remaining; ++i) {
    const auto u = static_cast<uint32_t>(kr[i]);
    if (u == prefix) cand[base + before++] = (static_cast<uint64_t>(u) << 32) | static_cast<uint32_t>(i);
  }
  __syncthreads();
  uint64_t item[1] = {tid < k ? cand[tid] : ~uint64_t{0}};
  BlockSort(tmp.sort).Sort(item);  // blocked: thread t holds the t-th smallest
  if (tid < k) {
    sorted_keys[r * vocab + tid] = (static_cast<uint64_t>(r) << 32) | (item[0] >> 32);
    sorted_ids[r * vocab + tid] = static_cast<int32_t>(item[0] & 0xffffffffu);
  }
}

// Block-wide helpers over positions [0, n) of a row (every thread gets the result).
struct Shared {
  typename BlockScanD::TempStorage scan;
  typename BlockReduceD::TempStorage reduce;
  double carry;
  double value;
  int found;
};

template <class F>
__device__ double block_sum(Shared& s, int64_t n, F f) {
  double v = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) v += f(i);
  __syncthreads();
  v = BlockReduceD(s.reduce).Sum(v);
  if (threadIdx.x == 0) s.value = v;
  __syncthreads();
  return s.value;
}

// The first i in [0, n) whose running sum f(0) + ... + f(i) is >= thr, or -1.
template <class F>
__device__ int64_t first_reaching(Shared& s, int64_t n, double thr, F f) {
  __syncthreads();
  if (threadIdx.x == 0) {
    s.carry = 0.0;
    s.found = INT_MAX;
  }
  __syncthreads();
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    const double v = i < n ? f(i) : 0.0;
    double incl, total;
    BlockScanD(s.scan).InclusiveSum(v, incl, total);
    const double cum = s.carry + incl;
    if (i < n && cum >= thr) atomicMin(&s.found, static_cast<int>(i));
    __syncthreads();
    if (s.found != INT_MAX) return s.found;
    if (threadIdx.x == 0) s.carry += total;
    __syncthreads();
  }
  return -1;
}

// The first i in [lo, n) with pred(i), else n (pred holds on a suffix: the values descend).
template <class P>
__device__ int64_t first_where(Shared& s, int64_t lo, int64_t n, P pred) {
  __syncthreads();
  if (threadIdx.x == 0) s.found = INT_MAX;
  __syncthreads();
  for (int64_t base = lo; base < n; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    if (i < n && pred(i)) atomicMin(&s.found, static_cast<int>(i));
    __syncthreads();
    if (s.found != INT_MAX) return s.found;
  }
  return n;
}

// The host's draw over weights w(0..n): the first whose running sum reaches u01 * total (the
// last if rounding leaves the sum short), 0 when the total is not positive.
template <class F>
__device__ int64_t draw(Shared& s, int64_t n, double u01, F w) {
  const double total = block_sum(s, n, w);
  if (!(total > 0.0)) return 0;
  const int64_t i = first_reaching(s, n, u01 * total, w);
  return i < 0 ? n - 1 : i;
}

// Filters and draw of row blockIdx.x over its sorted candidates.
// n_sorted: how many leading entries of each row's output are sorted (vocab, or select_k).
__global__ void __launch_bounds__(kThreads) k_sample_pick(int64_t vocab, int64_t n_sorted,
                                                          const SampleRow* __restrict__ params,
                                                          const uint64_t* __restrict__ sorted_keys,
                                                          const int32_t* __restrict__ sorted_ids,
                                                          int32_t* __restrict__ out) {
  __shared__ Shared s;
  const int64_t r = blockIdx.x;
  const SampleRow p = params[r];
  const uint64_t* ks = sorted_keys + r * vocab;
  const int32_t* id = sorted_ids + r * vocab;
  const float v0 = sorted_value(ks, 0);
  if (p.temperature == 0.0f) {  // argmax after the penalties
    if (threadIdx.x == 0) out[r] = id[0];
    return;
  }
  int64_t keep = vocab;
  if (p.mlx_order) {
    if (v0 == -INFINITY) {  // no candidate left: the host's empty weight list
      if (threadIdx.x == 0) out[r] = 0;
      return;
    }
    if (p.top_p > 0.0f && p.top_p < 1.0f) {
      const int64_t i = first_reaching(s, n_sorted, static_cast<double>(p.top_p),
                                       [&](int64_t j) { return exp(static_cast<double>(sorted_value(ks, j))); });
      keep = i < 0 ? n_sorted : i + 1;
    }
    const float min_lp = __fadd_rn(v0, p.log_min_p);
    if (p.min_p > 0.0f) keep = min(keep, first_where(s, 1, keep, [&](int64_t j) { return sorted_value(ks, j) < min_lp; }));
    if (p.top_k > 0) keep = min(keep, static_cast<int64_t>(p.top_k));
    keep = max(keep, int64_t{1});
    // Candidates at -inf are not weights (they sort last, so the finite ones are a prefix).
    const int64_t finite = first_where(s, 0, keep, [&](int64_t j) { return sorted_value(ks, j) == -INFINITY; });
    auto weight = [&](int64_t j) {
      return exp(static_cast<double>(__fmul_rn(__fsub_rn(sorted_value(ks, j), v0), p.inv_temperature)));
    };
    const int64_t pick = draw(s, finite, p.u01, weight);
    if (threadIdx.x == 0) out[r] = id[pick];
    return;
  }
  // Ollama's order.
  const float mxf = __fdiv_rn(v0, p.temperature);
  if (!isfinite(mxf)) {
    if (threadIdx.x == 0) out[r] = id[0];
    return;
  }
  if (p.top_k > 0 && p.top_k < vocab) keep = p.top_k;
  auto weight = [&](int64_t j) {
    return exp(static_cast<double>(__fdiv_rn(sorted_value(ks, j), p.temperature)) - static_cast<double>(mxf));
  };
  const double sum = block_sum(s, keep, weight);
  auto prob = [&](int64_t j) { return weight(j) / sum; };
  if (p.top_p > 0.0f && p.top_p < 1.0f) {
    const int64_t i = first_reaching(s, keep, static_cast<double>(p.top_p), prob);
    keep = max(i < 0 ? keep : i + 1, int64_t{1});
  }
  if (p.min_p > 0.0f) {
    const double threshold = prob(0) * static_cast<double>(p.min_p);
    keep = first_where(s, 1, keep, [&](int64_t j) { return prob(j) < threshold; });
  }
  const int64_t pick = draw(s, keep, p.u01, prob);
  if (threadIdx.x == 0) out[r] = id[pick];
}

// Scratch layout: work floats, keys in/out, ids in/out, then cub's temporary storage.
struct Layout {
  size_t work, keys_in, keys_out, ids_in, ids_out, temp, temp_bytes, total;
};

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

int end_bit(int64_t rows) {
  int bits = 0;
  while ((int64_t{1} << bits) < rows) ++bits;
  return 32 + bits;
}

Layout layout(int64_t rows, int64_t vocab) {
  const size_t n = static_cast<size_t>(rows * vocab);
  Layout l{};
  size_t temp_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const uint64_t*>(nullptr),
                                  static_cast<uint64_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                  static_cast<int32_t*>(nullptr), static_cast<int64_t>(n), 0, end_bit(rows));
  size_t at = 0;
  l.work = at;
  at += align256(n * sizeof(float));
  l.keys_in = at;
  at += align256(n * sizeof(uint64_t));
  l.keys_out = at;
  at += align256(n * sizeof(uint64_t));
  l.ids_in = at;
  at += align256(n * sizeof(int32_t));
  l.ids_out = at;
  at += align256(n * sizeof(int32_t));
  l.temp = at;
  l.temp_bytes = temp_bytes;
  at += align256(temp_bytes);
  l.total = at;
  return l;
}

}  // namespace

size_t sample_scratch_bytes(int64_t rows, int64_t vocab) { return layout(rows, vocab).total; }

cudaError_t launch_sample_rows(const float* x, int64_t rows, int64_t vocab, const SampleRow* params,
                               const int32_t* counts, int select_k, int32_t* out, void* scratch,
                               cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const Layout l = layout(rows, vocab);
  auto* base = static_cast<unsigned char*>(scratch);
  auto* work = reinterpret_cast<float*>(base + l.work);
  auto* keys_in = reinterpret_cast<uint64_t*>(base + l.keys_in);
  auto* keys_out = reinterpret_cast<uint64_t*>(base + l.keys_out);
  auto* ids_in = reinterpret_cast<int32_t*>(base + l.ids_in);
  auto* ids_out = reinterpret_cast<int32_t*>(base + l.ids_out);
  k_sample_prepare<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, vocab, params, counts, work, keys_in, ids_in);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const int64_t k = std::min<int64_t>(select_k, vocab);
  if (k > 0 && k <= kSampleSelectMax) {
    k_sample_select<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(vocab, static_cast<int>(k), keys_in,
                                                                          keys_out, ids_out);
  } else {
    size_t temp_bytes = l.temp_bytes;
    e = cub::DeviceRadixSort::SortPairs(base + l.temp, temp_bytes, keys_in, keys_out, ids_in, ids_out,
                                        rows * vocab, 0, end_bit(rows), stream);
    if (e != cudaSuccess) return e;
  }
  e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const int64_t n_sorted = k > 0 && k <= kSampleSelectMax ? k : vocab;
  k_sample_pick<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(vocab, n_sorted, params, keys_out, ids_out, out);
  return cudaGetLastError();
}

}  // namespace ollmlx::cuda
