// Attention kernels of the CUDA backend: appending a pass's keys/values to the device KV cache,
// and causal / sliding-window softmax attention with GQA over it.
//
// One kernel serves prefill and decode. A block takes an item (kernels.h AttnItem): query rows x
// the query heads of one kv group, and a range of key positions. Keys/values are staged through
// shared memory in tiles of 32 (converted to float32 once per block and shared by all its query
// vectors: GQA reads each kv head once per group); each warp owns some query vectors, a lane
// scores one key of the tile (dot products from shared memory in float4), and the warp keeps a
// running max / sum and the weighted value sums (online softmax, float32 throughout).
// Decoding splits long key ranges over several blocks (flash-decoding): each writes a partial
// (acc, max, sum) and a combine kernel merges them.
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/common.cuh"

namespace ollmlx::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kKeyTile = 32;
constexpr int kMaxDimsPerLane = 8;  // head_dim <= 256
constexpr size_t kSmemBudget = 96 * 1024;

__host__ __device__ inline int hd4_of(int hd) { return (hd + 3) & ~3; }

size_t smem_bytes(int hd, int M) {
  const size_t hd4 = static_cast<size_t>(hd4_of(hd));
  return (2 * static_cast<size_t>(M) * hd4 + kKeyTile * (hd4 + 4) + kKeyTile * hd4 +
          2 * static_cast<size_t>(M)) * sizeof(float);
}

__global__ void kv_append_kernel(const AttnSpan* spans, int n_spans, const float* k,
                                 const float* v, int n_kv_heads, int hd, Dt kv_dt) {
  const int r = static_cast<int>(blockIdx.x);
  const int W = n_kv_heads * hd;
  const int idx = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x);
  if (idx >= W) return;
  int s = 0;
  while (s + 1 < n_spans && r >= spans[s + 1].begin) ++s;
  const AttnSpan sp = spans[s];
  const int pos = sp.pos0 + (r - sp.begin);
  const int row = sp.ring ? pos % sp.capacity : pos;
  const int h = idx / hd, d = idx % hd;
  const int64_t o = (static_cast<int64_t>(h) * sp.capacity + row) * hd + d;
  store_dt(sp.k_w, o, kv_dt, k[static_cast<int64_t>(r) * W + idx]);
  store_dt(sp.v_w, o, kv_dt, v[static_cast<int64_t>(r) * W + idx]);
}

// q8_0 storage (kernels.h): the value at (row index ri = head * capacity + row, dim d).
__device__ __forceinline__ float load_q8(const void* p, int64_t ri, int hd, int d) {
  const int nb = (hd + kQ8Block - 1) / kQ8Block;
  const auto* b = static_cast<const uint8_t*>(p) + (ri * nb + d / kQ8Block) * kQ8BlockBytes;
  return *reinterpret_cast<const float*>(b) * static_cast<float>(static_cast<int8_t>(b[4 + d % kQ8Block]));
}

// One warp per block of kQ8Block values of one head's row of batch row blockIdx.x (k and v):
// d = max|x| / 127 (NaN when the block holds a NaN), q = round-to-nearest-even(x / d).
__global__ void kv_append_q8_kernel(const AttnSpan* spans, int n_spans, const float* k,
                                    const float* v, int n_kv_heads, int hd) {
  const int r = static_cast<int>(blockIdx.x);
  const int nb = (hd + kQ8Block - 1) / kQ8Block;
  const int blk = static_cast<int>(blockIdx.y * (blockDim.x / 32) + threadIdx.x / 32);
  if (blk >= n_kv_heads * nb) return;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int h = blk / nb, d = (blk % nb) * kQ8Block + lane;
  int s = 0;
  while (s + 1 < n_spans && r >= spans[s + 1].begin) ++s;
  const AttnSpan sp = spans[s];
  const int pos = sp.pos0 + (r - sp.begin);
  const int row = sp.ring ? pos % sp.capacity : pos;
  const int64_t ri = static_cast<int64_t>(h) * sp.capacity + row;
  const int64_t src = static_cast<int64_t>(r) * n_kv_heads * hd + static_cast<int64_t>(h) * hd + d;
  for (int which = 0; which < 2; ++which) {
    const float x = d < hd ? (which ? v : k)[src] : 0.0f;
    float amax = fabsf(x);
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(kFullMask, amax, o));
    const bool nan = __any_sync(kFullMask, x != x);
    const float scale = nan ? __int_as_float(0x7fffffff) : __fdiv_rn(amax, 127.0f);
    const float q = scale > 0.0f ? fminf(fmaxf(rintf(__fdiv_rn(x, scale)), -127.0f), 127.0f) : 0.0f;
    auto* b = static_cast<uint8_t*>(which ? sp.v_w : sp.k_w) + (ri * nb + d / kQ8Block) * kQ8BlockBytes;
    b[4 + lane] = static_cast<uint8_t>(static_cast<int8_t>(q));
    if (lane == 0) *reinterpret_cast<float*>(b) = scale;
  }
}

// DPL: head dimensions per lane (ceil(head_dim / 32): 1, 2, 4 or 8), so the value loop has no
// predicated-off iterations for small heads.
template <int DPL>
__global__ void __launch_bounds__(kThreads) attention_kernel(const AttnArgs a) {
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  const AttnItem it = a.items[blockIdx.x];
  const AttnSpan sp = a.spans[it.span];
  const int hd = a.head_dim, hd4 = hd4_of(hd), ks = hd4 + 4;
  const int nh = it.h1 - it.h0, rows = it.r1 - it.r0, M = rows * nh;
  float* sQ = smem;              // [M][hd4]
  float* sAcc = sQ + M * hd4;    // [M][hd4]
  float* sK = sAcc + M * hd4;    // [kKeyTile][ks]
  float* sV = sK + kKeyTile * ks;  // [kKeyTile][hd4]
  float* sMax = sV + kKeyTile * hd4;  // [M]
  float* sSum = sMax + M;             // [M]
  const int tid = static_cast<int>(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  const int64_t qstride = static_cast<int64_t>(a.n_heads) * hd;

  for (int idx = tid; idx < M * hd4; idx += kThreads) {
    const int m = idx / hd4, d = idx % hd4;
    const int ri = m / nh, hi = m % nh;
    float q = 0.0f;
    if (d < hd) q = a.q[static_cast<int64_t>(it.r0 + ri) * qstride + static_cast<int64_t>(it.h0 + hi) * hd + d];
    sQ[idx] = q;
    sAcc[idx] = 0.0f;
  }
  for (int m = tid; m < M; m += kThreads) {
    sMax[m] = -INFINITY;
    sSum[m] = 0.0f;
  }
  __syncthreads();

  const int64_t head_off = static_cast<int64_t>(it.kvh) * sp.capacity * hd;
  for (int kt = it.k0; kt < it.k1; kt += kKeyTile) {
    const int nk = min(kKeyTile, it.k1 - kt);
    for (int idx = tid; idx < kKeyTile * hd4; idx += kThreads) {
      const int j = idx / hd4, d = idx % hd4;
      float kv = 0.0f, vv = 0.0f;
      if (j < nk && d < hd) {
        const int pos = kt + j;
        const int row = sp.ring ? pos % sp.capacity : pos;
        if (a.kv_dt == Dt::Q8) {
          const int64_t ri = static_cast<int64_t>(it.kvh) * sp.capacity + row;
          kv = load_q8(sp.k, ri, hd, d);
          vv = load_q8(sp.v, ri, hd, d);
        } else {
          const int64_t o = head_off + static_cast<int64_t>(row) * hd + d;
          kv = load_dt(sp.k, o, a.kv_dt);
          vv = load_dt(sp.v, o, a.kv_dt);
        }
      }
      sK[j * ks + d] = kv;
      sV[j * hd4 + d] = vv;
    }
    __syncthreads();
    for (int m = warp; m < M; m += kWarps) {
      const int ri = m / nh;
      const int qp = sp.pos0 + (it.r0 + ri - sp.begin);
      const int fk = a.window > 0 ? max(0, qp - a.window + 1) : 0;
      const int kp = kt + lane;
      const bool valid = lane < nk && kp >= fk && kp <= qp;
      const float4* q4 = reinterpret_cast<const float4*>(sQ + m * hd4);
      const float4* k4 = reinterpret_cast<const float4*>(sK + lane * ks);
      float s0 = 0.0f, s1 = 0.0f;
      int d4 = 0;
      for (; d4 + 2 <= hd4 / 4; d4 += 2) {
        const float4 qa = q4[d4], ka = k4[d4], qb = q4[d4 + 1], kb = k4[d4 + 1];
        s0 = __fmaf_rn(qa.x, ka.x, s0); s0 = __fmaf_rn(qa.y, ka.y, s0);
        s0 = __fmaf_rn(qa.z, ka.z, s0); s0 = __fmaf_rn(qa.w, ka.w, s0);
        s1 = __fmaf_rn(qb.x, kb.x, s1); s1 = __fmaf_rn(qb.y, kb.y, s1);
        s1 = __fmaf_rn(qb.z, kb.z, s1); s1 = __fmaf_rn(qb.w, kb.w, s1);
      }
      if (d4 < hd4 / 4) {
        const float4 qa = q4[d4], ka = k4[d4];
        s0 = __fmaf_rn(qa.x, ka.x, s0); s0 = __fmaf_rn(qa.y, ka.y, s0);
        s0 = __fmaf_rn(qa.z, ka.z, s0); s0 = __fmaf_rn(qa.w, ka.w, s0);
      }
      float s = (s0 + s1) * a.scale;
      if (a.softcap > 0.0f) s = tanhf(s / a.softcap) * a.softcap;
      if (!valid) s = -INFINITY;
      const float tmax = warp_max(s);
      const float m_old = sMax[m];
      const float m_new = fmaxf(m_old, tmax);
      if (m_new == -INFINITY) continue;  // no visible key yet (warp-uniform)
      const float p = valid ? expf(s - m_new) : 0.0f;
      const float psum = warp_sum(p);
      const float corr = expf(m_old - m_new);  // 0 while m_old is -inf
      float acc[DPL];
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        const int d = lane + 32 * i;
        acc[i] = d < hd ? sAcc[m * hd4 + d] * corr : 0.0f;
      }
      for (int j = 0; j < nk; ++j) {
        const float pj = __shfl_sync(kFullMask, p, j);
        const float* vr = sV + j * hd4;
#pragma unroll
        for (int i = 0; i < DPL; ++i) {
          const int d = lane + 32 * i;
          if (d < hd) acc[i] = __fmaf_rn(pj, vr[d], acc[i]);
        }
      }
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        const int d = lane + 32 * i;
        if (d < hd) sAcc[m * hd4 + d] = acc[i];
      }
      const float l_old = sSum[m];
      __syncwarp();
      if (lane == 0) {
        sMax[m] = m_new;
        sSum[m] = l_old * corr + psum;
      }
      __syncwarp();
    }
    __syncthreads();
  }

  for (int m = warp; m < M; m += kWarps) {
    const int ri = m / nh, hi = m % nh;
    const int64_t row = it.r0 + ri;
    const int h = it.h0 + hi;
    const float l = sSum[m];
    if (it.nsplit == 1) {
      const float inv = 1.0f / l;
      for (int d = lane; d < hd; d += 32)
        a.out[row * qstride + static_cast<int64_t>(h) * hd + d] = round_dt(sAcc[m * hd4 + d] * inv, a.act);
    } else {
      float* p = a.part + (static_cast<int64_t>(a.row_part[row] + it.split) * a.n_heads + h) * (hd + 2);
      for (int d = lane; d < hd; d += 32) p[d] = sAcc[m * hd4 + d];
      if (lane == 0) {
        p[hd] = sMax[m];
        p[hd + 1] = l;
      }
    }
  }
}

// One block per (row, head). The splits' statistics are read in parallel (a thread per split),
// reduced in a fixed order, and each split's weight exp(max_s - max) kept in shared memory, so
// the per-dimension sums are one pass of independent loads (the first version had every thread
// walk the splits three times in dependent order: 8.7 us per layer on the 1B shape).
__device__ __forceinline__ float block_reduce(float v, bool is_max, float* red) {
  v = is_max ? warp_max(v) : warp_sum(v);
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int warps = static_cast<int>(blockDim.x >> 5);
  __syncthreads();  // red may still be read from a previous reduction
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < warps; ++w) r = is_max ? fmaxf(r, red[w]) : r + red[w];
  return r;
}

__global__ void combine_kernel(const float* part, const int32_t* rows, int n_heads, int hd, Dt act,
                               float* out) {
  __shared__ float wts[kMaxAttnSplits];
  __shared__ float red[kThreads / 32];
  const int e = static_cast<int>(blockIdx.x), h = static_cast<int>(blockIdx.y);
  const int64_t row = rows[3 * e];
  const int base = rows[3 * e + 1], ns = rows[3 * e + 2];
  const int64_t stride = static_cast<int64_t>(n_heads) * (hd + 2);
  const float* p0 = part + static_cast<int64_t>(base) * stride + static_cast<int64_t>(h) * (hd + 2);
  float mx = -INFINITY;
  for (int s = static_cast<int>(threadIdx.x); s < ns; s += blockDim.x) {
    const float* p = p0 + s * stride;
    if (p[hd + 1] > 0.0f) mx = fmaxf(mx, p[hd]);
  }
  mx = block_reduce(mx, true, red);
  float l = 0.0f;
  for (int s = static_cast<int>(threadIdx.x); s < ns; s += blockDim.x) {
    const float* p = p0 + s * stride;
    const float w = p[hd + 1] > 0.0f ? expf(p[hd] - mx) : 0.0f;
    wts[s] = w;
    l += w * p[hd + 1];
  }
  l = block_reduce(l, false, red);  // its barrier also publishes wts
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
#pragma unroll 8
    for (int s = 0; s < ns; ++s) acc = __fmaf_rn(wts[s], p0[s * stride + d], acc);
    out[row * n_heads * hd + static_cast<int64_t>(h) * hd + d] = round_dt(acc / l, act);
  }
}

}  // namespace

int attention_max_queries(int head_dim) {
  if (head_dim < 1 || head_dim > 32 * kMaxDimsPerLane) return 0;
  for (int M = 64; M >= 1; --M)
    if (smem_bytes(head_dim, M) <= kSmemBudget) return M;
  return 0;
}

void launch_kv_append(const AttnSpan* spans, int n_spans, const float* k, const float* v,
                      int64_t T, int n_kv_heads, int head_dim, Dt kv_dt, cudaStream_t stream) {
  if (T == 0) return;
  if (kv_dt == Dt::Q8) {
    const int64_t blocks = int64_t{n_kv_heads} * ((head_dim + kQ8Block - 1) / kQ8Block);  // warps
    const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(ceil_div(blocks, 8)));
    kv_append_q8_kernel<<<grid, 256, 0, stream>>>(spans, n_spans, k, v, n_kv_heads, head_dim);
    return;
  }
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(ceil_div(int64_t{n_kv_heads} * head_dim, 256)));
  kv_append_kernel<<<grid, 256, 0, stream>>>(spans, n_spans, k, v, n_kv_heads, head_dim, kv_dt);
}

void launch_attention(const AttnArgs& a, cudaStream_t stream) {
  if (a.n_items == 0) return;
  static bool configured = false;  // raise the dynamic shared-memory limit once per process
  if (!configured) {
    for (const void* k : {reinterpret_cast<const void*>(attention_kernel<1>),
                          reinterpret_cast<const void*>(attention_kernel<2>),
                          reinterpret_cast<const void*>(attention_kernel<4>),
                          reinterpret_cast<const void*>(attention_kernel<8>)})
      cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmemBudget));
    configured = true;
  }
  const unsigned grid = static_cast<unsigned>(a.n_items);
  const size_t smem = smem_bytes(a.head_dim, a.max_m);
  const int dpl = (a.head_dim + 31) / 32;
  if (dpl <= 1)
    attention_kernel<1><<<grid, kThreads, smem, stream>>>(a);
  else if (dpl <= 2)
    attention_kernel<2><<<grid, kThreads, smem, stream>>>(a);
  else if (dpl <= 4)
    attention_kernel<4><<<grid, kThreads, smem, stream>>>(a);
  else
    attention_kernel<8><<<grid, kThreads, smem, stream>>>(a);
}

void launch_attention_combine(const float* part, const int32_t* rows, int n_rows, int n_heads,
                              int head_dim, Dt act, float* out, cudaStream_t stream) {
  if (n_rows == 0) return;
  const dim3 grid(static_cast<unsigned>(n_rows), static_cast<unsigned>(n_heads));
  const int threads = head_dim >= 128 ? 128 : (head_dim >= 64 ? 64 : 32);
  combine_kernel<<<grid, threads, 0, stream>>>(part, rows, n_heads, head_dim, act, out);
}

}  // namespace ollmlx::cuda
