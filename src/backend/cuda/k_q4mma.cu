// Tensor-core decode GEMV for MLX affine 4-bit weights (kernels.h, "tiled 4-bit layout").
//
// Why: the FMA kernels spend ~3 instructions per weight (extract, exact conversion, FMA) and are
// issue-bound at about a third of HBM bandwidth (ncu on H200: 70% issue, 29% DRAM). Here a
// nibble pair becomes a bf16x2 (or f16x2) register holding (128 + q) with one LOP3 (the magic
// exponent of 128 / 1024 makes the integer exact), and mma.m16n8k16 does the multiplies with
// float32 accumulation. The +128 offset is folded into the bias: per group,
//   sum x (s q + b) = s * sum x (q + 128) + (b - 128 s) * sum x,
// and sum x comes from a second mma with an all-ones A operand. The tokens of a decode batch are
// the mma's n = 8 columns, NT column tiles of 8 for up to 8 * NT tokens (unused columns are
// zero); every weight fragment loaded serves all NT tiles, so a batch of 32 sequences reads the
// 4-bit weights once per step.
//
// Block = 4 warps on one 16-row tile; the warps take group-aligned spans of 64-column chunks in
// turn and their partial sums are added in a fixed order (results do not depend on T).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/common.cuh"
#include "backend/cuda/mma.cuh"

namespace ollmlx::cuda {
namespace {

constexpr int kWarps = 4;

// Grid (tiles, S): with S > 1 the spans of a tile are split over S blocks (small N would
// otherwise leave most of the GPU idle: 32 blocks for a 512-row k_proj). Each block then writes
// its partial sums to `part` and the last block of the tile to finish (a per-tile counter) adds
// the S partials in split order and writes y, so results stay deterministic.
template <bool F16, Dt SDT, int GS, int NT>
__global__ void __launch_bounds__(kWarps * 32)
    qgemv_q4mma_kernel(const QuantMatrix m, const float* __restrict__ x, int T, const void* bias,
                       Dt bias_dt, Dt act, float* __restrict__ y, float* part, int* counters) {
  constexpr uint32_t kMagic = F16 ? 0x64006400u : 0x43004300u;  // 1024 / 128 in each half
  constexpr uint32_t kOnes = F16 ? 0x3C003C00u : 0x3F803F80u;
  constexpr float kOffset = F16 ? 1024.0f : 128.0f;
  constexpr int kStepsPerGroup = GS / 16;              // 2, 4 or 8
  constexpr int kChunksPerSpan = GS >= 64 ? GS / 64 : 1;  // a warp's unit of work: whole groups
  __shared__ float red[kWarps][32][4 * NT];

  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int g = lane >> 2, c = lane & 3;
  const int64_t tile = blockIdx.x;
  const int64_t K = m.K;
  const int KC = static_cast<int>(K >> 6);
  const int spans = KC / kChunksPerSpan;
  const int64_t groups = K / GS;
  const int64_t row0 = tile * 16 + g, row1 = row0 + 8;
  const int64_t p0 = min(row0, m.N - 1) * groups, p1 = min(row1, m.N - 1) * groups;
  const uint4* wp = reinterpret_cast<const uint4*>(m.w) + tile * KC * 32 + lane;
  bool has_x[NT];
  const float* xr[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    has_x[nt] = g + 8 * nt < T;
    xr[nt] = x + static_cast<int64_t>(has_x[nt] ? g + 8 * nt : 0) * K + 4 * c;
  }

  float out[NT][4];
  float acc[NT][4], sacc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) out[nt][i] = 0.0f;
  const int S = static_cast<int>(gridDim.y), split = static_cast<int>(blockIdx.y);
#pragma unroll 2
  for (int sp = split * kWarps + warp; sp < spans; sp += S * kWarps) {
#pragma unroll
    for (int q = 0; q < kChunksPerSpan; ++q) {
      const int kc = sp * kChunksPerSpan + q;
      const uint4 wq = __ldcs(wp + static_cast<int64_t>(kc) * 32);
      const uint32_t wv[4] = {wq.x, wq.y, wq.z, wq.w};
      float4 xv[NT][4];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          xv[nt][j] = has_x[nt] ? __ldg(reinterpret_cast<const float4*>(xr[nt] + static_cast<int64_t>(kc) * 64 + 16 * j))
                                : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int step = q * 4 + j;  // k-step within the span
        if (step % kStepsPerGroup == 0) {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[nt][i] = sacc[nt][i] = 0.0f;
        }
        const uint32_t w = wv[j];
        const uint32_t a0 = (w & 0x000F000Fu) | kMagic;
        const uint32_t a1 = ((w >> 4) & 0x000F000Fu) | kMagic;
        const uint32_t a2 = ((w >> 8) & 0x000F000Fu) | kMagic;
        const uint32_t a3 = ((w >> 12) & 0x000F000Fu) | kMagic;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint32_t b0 = pack2<F16>(xv[nt][j].x, xv[nt][j].y), b1 = pack2<F16>(xv[nt][j].z, xv[nt][j].w);
          mma16816<F16>(acc[nt], a0, a1, a2, a3, b0, b1);
          mma16816<F16>(sacc[nt], kOnes, kOnes, kOnes, kOnes, b0, b1);
        }
        if (step % kStepsPerGroup == kStepsPerGroup - 1) {
          const int64_t grp = (static_cast<int64_t>(kc) * 64 + 16 * j) / GS;
          const float s0 = load_param<SDT>(m.scales, p0 + grp), s1 = load_param<SDT>(m.scales, p1 + grp);
          const float c0 = __fmaf_rn(-kOffset, s0, load_param<SDT>(m.biases, p0 + grp));
          const float c1 = __fmaf_rn(-kOffset, s1, load_param<SDT>(m.biases, p1 + grp));
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            out[nt][0] = __fmaf_rn(c0, sacc[nt][0], __fmaf_rn(s0, acc[nt][0], out[nt][0]));
            out[nt][1] = __fmaf_rn(c0, sacc[nt][1], __fmaf_rn(s0, acc[nt][1], out[nt][1]));
            out[nt][2] = __fmaf_rn(c1, sacc[nt][2], __fmaf_rn(s1, acc[nt][2], out[nt][2]));
            out[nt][3] = __fmaf_rn(c1, sacc[nt][3], __fmaf_rn(s1, acc[nt][3], out[nt][3]));
          }
        }
      }
    }
  }

#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][lane][4 * nt + i] = out[nt][i];
  __syncthreads();
  float o[NT][4];
  if (warp == 0) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        o[nt][i] = red[0][lane][4 * nt + i];
#pragma unroll
        for (int w = 1; w < kWarps; ++w) o[nt][i] += red[w][lane][4 * nt + i];
      }
  }
  if (S > 1) {
    __shared__ int is_last;
    if (warp == 0) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
        *reinterpret_cast<float4*>(part + (((tile * S + split) * NT + nt) * 32 + lane) * 4) =
            make_float4(o[nt][0], o[nt][1], o[nt][2], o[nt][3]);
      __threadfence();
    }
    __syncthreads();
    if (threadIdx.x == 0) is_last = atomicAdd(counters + tile, 1) == S - 1;
    __syncthreads();
    if (!is_last) return;
    if (warp == 0) {
      __threadfence();
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) o[nt][i] = 0.0f;
      for (int sp = 0; sp < S; ++sp) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const float4 v = __ldcg(reinterpret_cast<const float4*>(part + (((tile * S + sp) * NT + nt) * 32 + lane) * 4));
          o[nt][0] += v.x; o[nt][1] += v.y; o[nt][2] += v.z; o[nt][3] += v.w;
        }
      }
      if (lane == 0) counters[tile] = 0;  // ready for the next launch (same stream)
    }
  }
  if (warp == 0) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int64_t row = i < 2 ? row0 : row1;
        const int tok = 8 * nt + 2 * c + (i & 1);
        if (row < m.N && tok < T) {
          const float b = bias ? load_dt(bias, row, bias_dt) : 0.0f;
          y[static_cast<int64_t>(tok) * m.N + row] = round_dt(o[nt][i] + b, act);
        }
      }
  }
}

__global__ void repack_q4_kernel(const uint32_t* src, int64_t N, int64_t K, uint32_t* dst) {
  const int64_t KC = K >> 6;
  const int64_t total = (N + 15) / 16 * KC * 128;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= total) return;
  const int j = static_cast<int>(idx & 3), lane = static_cast<int>((idx >> 2) & 31);
  const int64_t rest = idx >> 7;
  const int64_t kc = rest % KC, tile = rest / KC;
  const int g = lane >> 2, c = lane & 3;
  const int64_t words = K / 8;
  uint32_t out = 0;
#pragma unroll
  for (int nib = 0; nib < 8; ++nib) {
    const int h = nib & 1;
    const int e = ((nib >> 2) & 1) | (((nib >> 1) & 1) << 1);
    const int64_t row = tile * 16 + g + 8 * h;
    const int64_t k = kc * 64 + 16 * j + 4 * c + e;
    const uint32_t q = row < N ? packed_element(src + row * words, k, 4) : 0u;
    out |= q << (4 * nib);
  }
  dst[idx] = out;
}

// Rows [n0, n0 + nr) (n0 a multiple of 16) of a tiled matrix to dst [nr, K] of dtype out, as
// float32 scale * q + bias rounded once: one thread per (tile, 64-column chunk, lane).
__global__ void dequant_q4_tiled_kernel(const QuantMatrix m, int64_t n0, int64_t nr, void* dst,
                                        Dt out) {
  const int64_t K = m.K, KC = K >> 6;
  const int64_t tiles = (nr + 15) / 16;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= tiles * KC * 32) return;
  const int lane = static_cast<int>(idx & 31);
  const int64_t rest = idx >> 5;
  const int64_t kc = rest % KC, tile = n0 / 16 + rest / KC;
  const int g = lane >> 2, c = lane & 3;
  const uint4 wq = __ldcs(reinterpret_cast<const uint4*>(m.w) + (tile * KC + kc) * 32 + lane);
  const uint32_t wv[4] = {wq.x, wq.y, wq.z, wq.w};
  const int64_t groups = K / m.group_size;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t row = tile * 16 + g + 8 * h;
    if (row >= n0 + nr || row >= m.N) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t k = kc * 64 + 16 * j + 4 * c;
      const int64_t grp = row * groups + k / m.group_size;
      const float s = load_dt(m.scales, grp, m.sdt), b = load_dt(m.biases, grp, m.sdt);
      float v[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int nib = (e & 1) * 4 + (e >> 1) * 2 + h;
        v[e] = __fmaf_rn(s, static_cast<float>((wv[j] >> (4 * nib)) & 15u), b);
      }
      const int64_t o = (row - n0) * K + k;
      if (out == Dt::F32) {
        *reinterpret_cast<float4*>(static_cast<float*>(dst) + o) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
        uint32_t p[2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          uint32_t lo, hi;
          if (out == Dt::BF16) {
            lo = f32_to_bf16_bits(v[2 * i]);
            hi = f32_to_bf16_bits(v[2 * i + 1]);
          } else {
            lo = __half_as_ushort(__float2half_rn(v[2 * i]));
            hi = __half_as_ushort(__float2half_rn(v[2 * i + 1]));
          }
          p[i] = lo | (hi << 16);
        }
        *reinterpret_cast<uint2*>(static_cast<uint16_t*>(dst) + o) = make_uint2(p[0], p[1]);
      }
    }
  }
}

struct Q4Launch {
  dim3 grid;
  float* part;
  int* counters;
};

template <bool F16, Dt SDT, int NT>
void q4mma_gs(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt, Dt act,
              float* y, const Q4Launch& l, cudaStream_t stream) {
  if (m.group_size == 32)
    qgemv_q4mma_kernel<F16, SDT, 32, NT><<<l.grid, kWarps * 32, 0, stream>>>(m, x, T, bias, bias_dt, act, y, l.part, l.counters);
  else if (m.group_size == 64)
    qgemv_q4mma_kernel<F16, SDT, 64, NT><<<l.grid, kWarps * 32, 0, stream>>>(m, x, T, bias, bias_dt, act, y, l.part, l.counters);
  else
    qgemv_q4mma_kernel<F16, SDT, 128, NT><<<l.grid, kWarps * 32, 0, stream>>>(m, x, T, bias, bias_dt, act, y, l.part, l.counters);
}

template <bool F16, Dt SDT>
void q4mma_nt(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt, Dt act,
              float* y, const Q4Launch& l, cudaStream_t stream) {
  if (T <= 8)
    q4mma_gs<F16, SDT, 1>(m, x, T, bias, bias_dt, act, y, l, stream);
  else if (T <= 16)
    q4mma_gs<F16, SDT, 2>(m, x, T, bias, bias_dt, act, y, l, stream);
  else
    q4mma_gs<F16, SDT, 4>(m, x, T, bias, bias_dt, act, y, l, stream);
}

template <bool F16>
void q4mma_sdt(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt, Dt act,
               float* y, const Q4Launch& l, cudaStream_t stream) {
  if (m.sdt == Dt::BF16)
    q4mma_nt<F16, Dt::BF16>(m, x, T, bias, bias_dt, act, y, l, stream);
  else if (m.sdt == Dt::F16)
    q4mma_nt<F16, Dt::F16>(m, x, T, bias, bias_dt, act, y, l, stream);
  else
    q4mma_nt<F16, Dt::F32>(m, x, T, bias, bias_dt, act, y, l, stream);
}

}  // namespace

void launch_repack_q4(const uint32_t* src, int64_t N, int64_t K, uint32_t* dst, cudaStream_t stream) {
  const int64_t total = (N + 15) / 16 * (K >> 6) * 128;
  repack_q4_kernel<<<ceil_div(total, 256), 256, 0, stream>>>(src, N, K, dst);
}

void launch_dequant_q4_tiled(const QuantMatrix& m, int64_t n0, int64_t nr, void* dst, Dt out,
                             cudaStream_t stream) {
  const int64_t work = (nr + 15) / 16 * (m.K >> 6) * 32;
  dequant_q4_tiled_kernel<<<ceil_div(work, 256), 256, 0, stream>>>(m, n0, nr, dst, out);
}

int q4mma_splits(const QuantMatrix& m, int num_sms) {
  const int64_t tiles = (m.N + 15) / 16;
  const int64_t spans = (m.K >> 6) / (m.group_size >= 64 ? m.group_size / 64 : 1);
  const int64_t want = (8 * int64_t{num_sms} + tiles - 1) / tiles;  // about 8 blocks per SM
  const int64_t most = std::max<int64_t>(1, spans / kWarps);       // every warp gets a span
  return static_cast<int>(std::max<int64_t>(1, std::min(want, std::min<int64_t>(most, 64))));
}

void launch_qgemv_q4mma(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt,
                        Dt act, float* y, int splits, float* part, int* counters, cudaStream_t stream) {
  Q4Launch l;
  l.grid = dim3(static_cast<unsigned>((m.N + 15) / 16), static_cast<unsigned>(splits));
  l.part = part;
  l.counters = counters;
  if (act == Dt::F16)
    q4mma_sdt<true>(m, x, T, bias, bias_dt, act, y, l, stream);
  else
    q4mma_sdt<false>(m, x, T, bias, bias_dt, act, y, l, stream);
}

}  // namespace ollmlx::cuda
