// Linear-layer kernels of the CUDA backend:
//  * qgemv: fused dequantize-GEMV for MLX affine weights (2/3/4/5/6/8 bits) and up to
//    kGemvMaxRows tokens (decode). 2/4/8 bits: a lane owns one uint32 word of a row
//    (qgemv_word_kernel, coalesced weight and x loads). 3/5/6 bits: each lane takes 32-element
//    chunks of a row (exactly `bits` words, always inside one quantization group), one template
//    with compile-time shifts. Elements are turned into floats without integer
//    conversions: the field is masked in place and OR-ed into the mantissa of 2^23, and one FMA
//    with power-of-two constants gives q exactly (3 instructions per element and row: LOP3,
//    FFMA, FFMA). Per chunk: scale * sum(x*q) + bias * sum(x) in float32 (MLX's Metal
//    formulation). A warp handles R rows at once so each x value loaded feeds R rows.
//  * dequant_rows: rows of a quantized matrix to bf16/f16/f32 for the tensor-core GEMM path.
//  * convert, bias_round: dtype conversion of activations and the GEMM epilogue.
#include <cuda_runtime.h>

#include "backend/cuda/common.cuh"

namespace ollmlx::cuda {
namespace {

constexpr int kWarps = 4;  // warps per qgemv block
constexpr int kRowsPerWarp = 2;

// Loads the `BITS` words of one 32-element chunk (streaming: weights are read once).
template <int BITS>
__device__ __forceinline__ void load_chunk(const uint32_t* p, uint32_t (&w)[BITS]) {
  if constexpr (BITS == 4) {
    const uint4 v = __ldcs(reinterpret_cast<const uint4*>(p));
    w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
  } else if constexpr (BITS == 8) {
    const uint4 a = __ldcs(reinterpret_cast<const uint4*>(p));
    const uint4 b = __ldcs(reinterpret_cast<const uint4*>(p) + 1);
    w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w;
    w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
  } else if constexpr (BITS == 2) {
    const uint2 v = __ldcs(reinterpret_cast<const uint2*>(p));
    w[0] = v.x; w[1] = v.y;
  } else if constexpr (BITS == 6) {
    const uint2* q = reinterpret_cast<const uint2*>(p);
    const uint2 a = __ldcs(q), b = __ldcs(q + 1), c = __ldcs(q + 2);
    w[0] = a.x; w[1] = a.y; w[2] = b.x; w[3] = b.y; w[4] = c.x; w[5] = c.y;
  } else {
#pragma unroll
    for (int i = 0; i < BITS; ++i) w[i] = __ldcs(p + i);
  }
}

// Element e (0..31) of a chunk as an exact float. Called with e a constant after unrolling, so
// the word index, shifts and constants fold.
template <int BITS>
__device__ __forceinline__ float qval(const uint32_t (&w)[BITS], int e) {
  constexpr uint32_t kMask = (1u << BITS) - 1u;
  const int p = e * BITS, wi = p >> 5, off = p & 31;
  if (off + BITS <= 23) {
    // 2^23 + q * 2^off; times 2^-off minus 2^(23-off) is q, exactly.
    const float f = __uint_as_float((w[wi] & (kMask << off)) | 0x4B000000u);
    return __fmaf_rn(f, __uint_as_float(static_cast<uint32_t>(127 - off) << 23),
                     -__uint_as_float(static_cast<uint32_t>(127 + 23 - off) << 23));
  }
  uint32_t v;
  if (off + BITS <= 32)
    v = w[wi] >> off;
  else
    v = __funnelshift_r(w[wi], w[(wi + 1) % BITS], off);
  return __uint_as_float((v & kMask) | 0x4B000000u) - 8388608.0f;
}

template <int BITS, int NT, int R>
__global__ void __launch_bounds__(kWarps * 32)
    qgemv_kernel(const QuantMatrix m, const float* __restrict__ x, int T, const void* bias,
                 Dt bias_dt, Dt act, float* __restrict__ y) {
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * R;
  if (row0 >= m.N) return;
  const int64_t K = m.K;
  const int64_t nchunks = K >> 5;
  const int64_t wpr = K * BITS / 32;
  const int64_t groups = K / m.group_size;
  const int cpg_shift = m.group_size == 32 ? 0 : m.group_size == 64 ? 1 : 2;

  const uint32_t* wrow[R];
  int64_t prow[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t n = min(row0 + r, m.N - 1);
    wrow[r] = m.w + n * wpr;
    prow[r] = n * groups;
  }
  const float* xt[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) xt[t] = x + static_cast<int64_t>(min(t, T - 1)) * K;

  float total[R][NT];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) total[r][t] = 0.0f;

  // Two chunks per lane in flight (K = 2048 gives exactly two per lane and row).
#pragma unroll 2
  for (int64_t c = lane; c < nchunks; c += 32) {
    uint32_t w[R][BITS];
#pragma unroll
    for (int r = 0; r < R; ++r) load_chunk<BITS>(wrow[r] + c * BITS, w[r]);
    const int64_t g = c >> cpg_shift;
    float sc[R], bi[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      sc[r] = load_dt(m.scales, prow[r] + g, m.sdt);
      bi[r] = load_dt(m.biases, prow[r] + g, m.sdt);
    }
    float acc[R][NT], sx[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      sx[t] = 0.0f;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r][t] = 0.0f;
    }
#pragma unroll
    for (int e8 = 0; e8 < 32; e8 += 8) {
      float xv[NT][8];
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(xt[t] + c * 32 + e8));
        const float4 b = __ldg(reinterpret_cast<const float4*>(xt[t] + c * 32 + e8 + 4));
        xv[t][0] = a.x; xv[t][1] = a.y; xv[t][2] = a.z; xv[t][3] = a.w;
        xv[t][4] = b.x; xv[t][5] = b.y; xv[t][6] = b.z; xv[t][7] = b.w;
        sx[t] += ((xv[t][0] + xv[t][1]) + (xv[t][2] + xv[t][3])) +
                 ((xv[t][4] + xv[t][5]) + (xv[t][6] + xv[t][7]));
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float q = qval<BITS>(w[r], e8 + j);
#pragma unroll
          for (int t = 0; t < NT; ++t) acc[r][t] = __fmaf_rn(q, xv[t][j], acc[r][t]);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        total[r][t] = __fmaf_rn(sc[r], acc[r][t], total[r][t]);
        total[r][t] = __fmaf_rn(bi[r], sx[t], total[r][t]);
      }
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float v = warp_sum(total[r][t]);
      const int64_t n = row0 + r;
      if (lane == ((r * NT + t) & 31) && n < m.N && t < T) {
        const float b = bias ? load_dt(bias, n, bias_dt) : 0.0f;
        y[static_cast<int64_t>(t) * m.N + n] = round_dt(v + b, act);
      }
    }
  }
}

template <int BITS, int NT>
void qgemv_nt(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt, Dt act,
              float* y, cudaStream_t stream) {
  const int rows_per_block = kWarps * kRowsPerWarp;
  const int blocks = ceil_div(m.N, rows_per_block);
  qgemv_kernel<BITS, NT, kRowsPerWarp><<<blocks, kWarps * 32, 0, stream>>>(m, x, T, bias, bias_dt,
                                                                          act, y);
}

template <int BITS>
void qgemv_bits(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt, Dt act,
                float* y, cudaStream_t stream) {
  if (T <= 1)
    qgemv_nt<BITS, 1>(m, x, T, bias, bias_dt, act, y, stream);
  else if (T <= 2)
    qgemv_nt<BITS, 2>(m, x, T, bias, bias_dt, act, y, stream);
  else if (T <= 4)
    qgemv_nt<BITS, 4>(m, x, T, bias, bias_dt, act, y, stream);
  else
    qgemv_nt<BITS, 8>(m, x, T, bias, bias_dt, act, y, stream);
}

// ---- word-per-lane kernels for 2/4/8 bits ---------------------------------------------------
// Elements never cross uint32 words for these widths, so a lane can own one word (32/BITS
// elements) of a row: a warp's weight loads are 128 contiguous bytes per row and its x loads are
// contiguous too (a lane reads the 32/BITS floats of its word). The chunk-per-lane mapping above
// makes each lane read 128 bytes of x, so every x load instruction touches 32 cache lines: the
// L1 wavefronts, not DRAM, then limit the kernel (measured: 0.5-1.0 TB/s on an H100).

// Element e of a word as an exact float: fields that end below bit 23 are masked in place, the
// others are taken from the word shifted right by 12 (`hi`), where every width's top fields end
// at bit 20 or below.
template <int BITS>
__device__ __forceinline__ float wval(uint32_t q, uint32_t hi, int e) {
  constexpr uint32_t kMask = (1u << BITS) - 1u;
  int off = e * BITS;
  uint32_t src = q;
  if (off + BITS > 23) {
    src = hi;
    off -= 12;
  }
  const float f = __uint_as_float((src & (kMask << off)) | 0x4B000000u);
  return __fmaf_rn(f, __uint_as_float(static_cast<uint32_t>(127 - off) << 23),
                   -__uint_as_float(static_cast<uint32_t>(127 + 23 - off) << 23));
}

// A float parameter of compile-time dtype (no per-load dtype dispatch in the hot loop).
template <Dt SDT>
__device__ __forceinline__ float load_param(const void* p, int64_t i) {
  if constexpr (SDT == Dt::F32) return __ldg(static_cast<const float*>(p) + i);
  else if constexpr (SDT == Dt::F16) return __half2float(__ldg(static_cast<const __half*>(p) + i));
  else return bf16_bits_to_f32(__ldg(static_cast<const unsigned short*>(p) + i));
}

// Block = kWarps warps on R rows; the warps split the row's words (interleaved by 32 words) and
// their partial sums are added in a fixed order, so results do not depend on T.
// Decode (NT = 1) is latency-bound: its register budget is capped so that 8 blocks (32 warps)
// fit on a multiprocessor and keep more loads in flight (measured with R = 8 and 128 registers:
// 16 warps per SM, 45% issue utilisation, 1.1-1.6 TB/s).
template <int BITS, int NT, int R, Dt SDT>
__global__ void __launch_bounds__(kWarps * 32, NT == 1 ? 8 : 1)
    qgemv_word_kernel(const QuantMatrix m, const float* __restrict__ x, int T, const void* bias,
                      Dt bias_dt, Dt act, float* __restrict__ y) {
  constexpr int E = 32 / BITS;  // elements per word
  __shared__ float red[kWarps][R * NT];
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * R;
  const int64_t K = m.K;
  const int64_t W = K * BITS / 32;  // words per row
  const int64_t groups = K / m.group_size;
  // Words per group: group_size * BITS / 32, a power of two.
  const int wpg = m.group_size * BITS / 32;
  const int gshift = 31 - __clz(wpg);

  const uint32_t* wrow[R];
  int64_t prow[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t n = min(n0 + r, m.N - 1);
    wrow[r] = m.w + n * W;
    prow[r] = n * groups;
  }
  const float* xt[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) xt[t] = x + static_cast<int64_t>(min(t, T - 1)) * K;

  float total[R][NT];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) total[r][t] = 0.0f;

#pragma unroll 2
  for (int64_t w = warp * 32 + lane; w < W; w += kWarps * 32) {
    uint32_t q[R];
#pragma unroll
    for (int r = 0; r < R; ++r) q[r] = __ldcs(wrow[r] + w);
    const int64_t g = w >> gshift;
    float sc[R], bi[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      sc[r] = load_param<SDT>(m.scales, prow[r] + g);
      bi[r] = load_param<SDT>(m.biases, prow[r] + g);
    }
    float xv[NT][E], sx[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float4* xp = reinterpret_cast<const float4*>(xt[t] + w * E);
#pragma unroll
      for (int i = 0; i < E / 4; ++i) {
        const float4 v = __ldg(xp + i);
        xv[t][4 * i] = v.x; xv[t][4 * i + 1] = v.y; xv[t][4 * i + 2] = v.z; xv[t][4 * i + 3] = v.w;
      }
      float s4[E / 4];
#pragma unroll
      for (int i = 0; i < E / 4; ++i)
        s4[i] = (xv[t][4 * i] + xv[t][4 * i + 1]) + (xv[t][4 * i + 2] + xv[t][4 * i + 3]);
      float sum = s4[0];
#pragma unroll
      for (int i = 1; i < E / 4; ++i) sum += s4[i];
      sx[t] = sum;
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint32_t hi = q[r] >> 12;
      float acc[NT];
#pragma unroll
      for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
#pragma unroll
      for (int e = 0; e < E; ++e) {
        const float v = wval<BITS>(q[r], hi, e);
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[t] = __fmaf_rn(v, xv[t][e], acc[t]);
      }
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        total[r][t] = __fmaf_rn(sc[r], acc[t], total[r][t]);
        total[r][t] = __fmaf_rn(bi[r], sx[t], total[r][t]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float v = warp_sum(total[r][t]);
      if (lane == 0) red[warp][r * NT + t] = v;
    }
  __syncthreads();
  const int i = static_cast<int>(threadIdx.x);
  if (i < R * NT) {
    const int r = i / NT, t = i % NT;
    float v = red[0][i];
#pragma unroll
    for (int k = 1; k < kWarps; ++k) v += red[k][i];
    const int64_t n = n0 + r;
    if (n < m.N && t < T) {
      const float b = bias ? load_dt(bias, n, bias_dt) : 0.0f;
      y[static_cast<int64_t>(t) * m.N + n] = round_dt(v + b, act);
    }
  }
}

template <int BITS, int NT, int R>
void qgemv_word(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt, Dt act,
                float* y, cudaStream_t stream) {
  const int blocks = ceil_div(m.N, R);
  if (m.sdt == Dt::BF16)
    qgemv_word_kernel<BITS, NT, R, Dt::BF16><<<blocks, kWarps * 32, 0, stream>>>(m, x, T, bias, bias_dt, act, y);
  else if (m.sdt == Dt::F16)
    qgemv_word_kernel<BITS, NT, R, Dt::F16><<<blocks, kWarps * 32, 0, stream>>>(m, x, T, bias, bias_dt, act, y);
  else
    qgemv_word_kernel<BITS, NT, R, Dt::F32><<<blocks, kWarps * 32, 0, stream>>>(m, x, T, bias, bias_dt, act, y);
}

template <int BITS>
void qgemv_word_bits(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt,
                     Dt act, float* y, cudaStream_t stream) {
  if (T <= 1)
    qgemv_word<BITS, 1, 4>(m, x, T, bias, bias_dt, act, y, stream);
  else if (T <= 2)
    qgemv_word<BITS, 2, 4>(m, x, T, bias, bias_dt, act, y, stream);
  else if (T <= 4)
    qgemv_word<BITS, 4, 4>(m, x, T, bias, bias_dt, act, y, stream);
  else
    qgemv_word<BITS, 8, 2>(m, x, T, bias, bias_dt, act, y, stream);
}

// One thread per word of rows [n0, n0 + nr): E values, stored contiguously (16-byte stores for
// 4-bit bf16), so a warp writes one contiguous span.
template <int BITS>
__global__ void dequant_word_kernel(const QuantMatrix m, int64_t n0, int64_t nr, void* dst, Dt out) {
  constexpr int E = 32 / BITS;
  const int64_t W = m.K * BITS / 32;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= nr * W) return;
  const int64_t r = idx / W, w = idx % W;
  const int64_t n = n0 + r;
  const uint32_t q = __ldcs(m.w + n * W + w);
  const uint32_t hi = q >> 12;
  const int64_t g = (w * E) / m.group_size;
  const int64_t groups = m.K / m.group_size;
  const float s = load_dt(m.scales, n * groups + g, m.sdt);
  const float b = load_dt(m.biases, n * groups + g, m.sdt);
  const int64_t base = r * m.K + w * E;
  if (out == Dt::F32) {
    float4* d = reinterpret_cast<float4*>(static_cast<float*>(dst) + base);
#pragma unroll
    for (int e = 0; e < E; e += 4)
      d[e / 4] = make_float4(__fmaf_rn(s, wval<BITS>(q, hi, e), b), __fmaf_rn(s, wval<BITS>(q, hi, e + 1), b),
                             __fmaf_rn(s, wval<BITS>(q, hi, e + 2), b), __fmaf_rn(s, wval<BITS>(q, hi, e + 3), b));
    return;
  }
  uint32_t packed[E / 2];
#pragma unroll
  for (int i = 0; i < E / 2; ++i) {
    const float v0 = __fmaf_rn(s, wval<BITS>(q, hi, 2 * i), b);
    const float v1 = __fmaf_rn(s, wval<BITS>(q, hi, 2 * i + 1), b);
    uint32_t lo, hv;
    if (out == Dt::BF16) {
      lo = f32_to_bf16_bits(v0);
      hv = f32_to_bf16_bits(v1);
    } else {
      lo = __half_as_ushort(__float2half_rn(v0));
      hv = __half_as_ushort(__float2half_rn(v1));
    }
    packed[i] = lo | (hv << 16);
  }
  uint16_t* d16 = static_cast<uint16_t*>(dst) + base;
  if constexpr (E == 4) {
    *reinterpret_cast<uint2*>(d16) = make_uint2(packed[0], packed[1]);
  } else {
#pragma unroll
    for (int i = 0; i < E / 8; ++i)
      reinterpret_cast<uint4*>(d16)[i] =
          make_uint4(packed[4 * i], packed[4 * i + 1], packed[4 * i + 2], packed[4 * i + 3]);
  }
}

// One thread per 32-element chunk of rows [n0, n0 + nr).
template <int BITS>
__global__ void dequant_kernel(const QuantMatrix m, int64_t n0, int64_t nr, void* dst, Dt out) {
  const int64_t nchunks = m.K >> 5;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= nr * nchunks) return;
  const int64_t r = idx / nchunks, c = idx % nchunks;
  const int64_t n = n0 + r;
  const int64_t wpr = m.K * BITS / 32;
  uint32_t w[BITS];
  load_chunk<BITS>(m.w + n * wpr + c * BITS, w);
  const int64_t g = (c * 32) / m.group_size;
  const float s = load_dt(m.scales, n * (m.K / m.group_size) + g, m.sdt);
  const float b = load_dt(m.biases, n * (m.K / m.group_size) + g, m.sdt);
  const int64_t base = r * m.K + c * 32;
  if (out == Dt::F32) {
    float4* d = reinterpret_cast<float4*>(static_cast<float*>(dst) + base);
#pragma unroll
    for (int e = 0; e < 32; e += 4)
      d[e / 4] = make_float4(__fmaf_rn(s, qval<BITS>(w, e), b), __fmaf_rn(s, qval<BITS>(w, e + 1), b),
                             __fmaf_rn(s, qval<BITS>(w, e + 2), b), __fmaf_rn(s, qval<BITS>(w, e + 3), b));
  } else {
    uint4* d = reinterpret_cast<uint4*>(static_cast<uint16_t*>(dst) + base);
#pragma unroll
    for (int e = 0; e < 32; e += 8) {
      uint32_t packed[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float v0 = __fmaf_rn(s, qval<BITS>(w, e + 2 * i), b);
        const float v1 = __fmaf_rn(s, qval<BITS>(w, e + 2 * i + 1), b);
        uint32_t lo, hi;
        if (out == Dt::BF16) {
          lo = f32_to_bf16_bits(v0);
          hi = f32_to_bf16_bits(v1);
        } else {
          lo = __half_as_ushort(__float2half_rn(v0));
          hi = __half_as_ushort(__float2half_rn(v1));
        }
        packed[i] = lo | (hi << 16);
      }
      d[e / 8] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    }
  }
}

__global__ void convert_kernel(const void* src, Dt sdt, void* dst, Dt ddt, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    store_dt(dst, i, ddt, load_dt(src, i, sdt));
}

__global__ void bias_round_kernel(float* y, int64_t T, int64_t N, const void* bias, Dt bias_dt,
                                  Dt act) {
  const int64_t n_all = T * N;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_all;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = y[i];
    if (bias) v += load_dt(bias, i % N, bias_dt);
    y[i] = round_dt(v, act);
  }
}

int grid_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

}  // namespace

void launch_qgemv(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt,
                  Dt act, float* y, cudaStream_t stream) {
  switch (m.bits) {
    case 2: return qgemv_word_bits<2>(m, x, T, bias, bias_dt, act, y, stream);
    case 3: return qgemv_bits<3>(m, x, T, bias, bias_dt, act, y, stream);
    case 4: return qgemv_word_bits<4>(m, x, T, bias, bias_dt, act, y, stream);
    case 5: return qgemv_bits<5>(m, x, T, bias, bias_dt, act, y, stream);
    case 6: return qgemv_bits<6>(m, x, T, bias, bias_dt, act, y, stream);
    default: return qgemv_word_bits<8>(m, x, T, bias, bias_dt, act, y, stream);
  }
}

void launch_dequant_rows(const QuantMatrix& m, int64_t n0, int64_t nr, void* dst, Dt out,
                         cudaStream_t stream) {
  if (m.tiled) return launch_dequant_q4_tiled(m, n0, nr, dst, out, stream);
  const int threads = 256;
  if (m.bits == 2 || m.bits == 4 || m.bits == 8) {
    const int64_t work = nr * (m.K * m.bits / 32);
    const int blocks = ceil_div(work, threads);
    if (m.bits == 2)
      dequant_word_kernel<2><<<blocks, threads, 0, stream>>>(m, n0, nr, dst, out);
    else if (m.bits == 4)
      dequant_word_kernel<4><<<blocks, threads, 0, stream>>>(m, n0, nr, dst, out);
    else
      dequant_word_kernel<8><<<blocks, threads, 0, stream>>>(m, n0, nr, dst, out);
    return;
  }
  const int64_t work = nr * (m.K >> 5);
  const int blocks = ceil_div(work, threads);
  switch (m.bits) {
    case 3: dequant_kernel<3><<<blocks, threads, 0, stream>>>(m, n0, nr, dst, out); break;
    case 5: dequant_kernel<5><<<blocks, threads, 0, stream>>>(m, n0, nr, dst, out); break;
    default: dequant_kernel<6><<<blocks, threads, 0, stream>>>(m, n0, nr, dst, out); break;
  }
}

void launch_convert(const void* src, Dt src_dt, void* dst, Dt dst_dt, int64_t n,
                    cudaStream_t stream) {
  convert_kernel<<<grid_for(n, 256), 256, 0, stream>>>(src, src_dt, dst, dst_dt, n);
}

void launch_bias_round(float* y, int64_t T, int64_t N, const void* bias, Dt bias_dt, Dt act,
                       cudaStream_t stream) {
  bias_round_kernel<<<grid_for(T * N, 256), 256, 0, stream>>>(y, T, N, bias, bias_dt, act);
}

}  // namespace ollmlx::cuda
