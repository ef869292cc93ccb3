// Decode GEMV for tiled 4-bit weights and 1..8 tokens (kernels.h "tiled 4-bit layout"): the
// batch-1 hot path, where the whole step is bound by how fast the 4-bit weights stream in.
//
// Why a kernel next to k_q4mma.cu (which serves 9..32 tokens): there a block owns one 16-row
// tile and re-reads the float32 x for every tile (4 bytes of x per half byte of weight through
// L1), and q/k/v (gate/up) are separate launches. Here
//  * a block is 4 warps on 4 consecutive tiles (64 rows) over one K range; x of that range is
//    staged once in shared memory, already packed as the mma's bf16x2/f16x2 B operand (and, for
//    the MLP's down projection, computed there as round(act(gate) * up));
//  * a warp loads a batch of up to 8 chunks (16 bytes per lane each) with their scales and
//    biases before any arithmetic;
//  * up to kQ4decMaxJobs matrices sharing x run as one grid;
//  * the K range is split over S blocks (about 4 blocks per SM in all); partial sums go to
//    `part` and the last block of a row block (a counter) adds them in split order, so the
//    result does not depend on scheduling.
// Three other designs of this kernel were measured slower on H200 (BENCHMARKS.md, "decode GEMV
// variants"): an 8-deep cp.async ring, whole-split cp.async prefetch, and a 4-deep ring with
// sum(x) from shared memory and four independent accumulators.
// Arithmetic is that of k_q4mma.cu: per group, s * sum x (q + o) + (b - o s) * sum x with the
// nibble turned into (o + q) by one LOP3 and sum x from an mma with an all-ones A operand.
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/common.cuh"
#include "backend/cuda/mma.cuh"

namespace ollmlx::cuda {
namespace {

constexpr int kDecWarps = 4;            // tiles per block
constexpr int kDecMaxSplitCols = 2048;  // columns of x one block stages (shared memory bound)
constexpr int kDecPad = 8;              // words of padding per staged token row (bank spread)

template <bool F16, Dt SDT, int GS>
__global__ void __launch_bounds__(kDecWarps * 32)
    qgemv_q4dec_kernel(const Q4DecJobs jobs, const float* __restrict__ x, int T, int split_chunks,
                       Dt act, float* part, int* counters) {
  constexpr uint32_t kMagic = F16 ? 0x64006400u : 0x43004300u;  // 1024 / 128 in each half
  constexpr uint32_t kOnes = F16 ? 0x3C003C00u : 0x3F803F80u;
  constexpr float kOffset = F16 ? 1024.0f : 128.0f;
  constexpr int kStepsPerGroup = GS / 16;            // 16-column k-steps per group: 2, 4, 8
  constexpr int kBatch = GS == 32 ? 4 : 8;           // chunks loaded before the math
  constexpr int kParams = GS == 32 ? 2 : 1;          // groups per chunk whose parameters we load
  extern __shared__ uint32_t xs[];                   // [T][stride] packed pairs of x

  // The matrix of this row block (matrices share K, group size and parameter dtype).
  const int rbg = static_cast<int>(blockIdx.x);
  // Selected with constant indices only: a dynamic index into the parameter struct would make
  // the compiler copy it to local memory.
  QuantMatrix m = jobs.m[0];
  float* yp = jobs.y[0];
  const void* bias = jobs.bias[0];
  Dt bias_dt = jobs.bias_dt[0];
  int rb = rbg;
#pragma unroll
  for (int i = 1; i < kQ4decMaxJobs; ++i) {
    if (i < jobs.n && rbg >= jobs.rb_end[i - 1]) {
      m = jobs.m[i];
      yp = jobs.y[i];
      bias = jobs.bias[i];
      bias_dt = jobs.bias_dt[i];
      rb = rbg - jobs.rb_end[i - 1];
    }
  }
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int g = lane >> 2, c = lane & 3;
  const int64_t K = m.K, KC = K >> 6, groups = K / GS;
  const int64_t tiles = (m.N + 15) / 16;
  const int64_t tile = static_cast<int64_t>(rb) * kDecWarps + warp;
  const bool tile_ok = tile < tiles;
  const int S = static_cast<int>(gridDim.y), split = static_cast<int>(blockIdx.y);
  const int64_t kc0 = static_cast<int64_t>(split) * split_chunks;  // first chunk of the split
  const int nck = static_cast<int>(min(static_cast<int64_t>(split_chunks), KC - kc0));
  const int stride = split_chunks * 32 + kDecPad;
  const int64_t row0 = tile * 16 + g, row1 = row0 + 8;
  const int64_t p0 = min(row0, m.N - 1) * groups, p1 = min(row1, m.N - 1) * groups;
  const uint4* wp = reinterpret_cast<const uint4*>(m.w) + (tile * KC + kc0) * 32 + lane;

  uint4 wq[kBatch];
  float sc[kBatch][kParams][4];  // s0, b0, s1, b1 of each group the chunk starts
  auto load_batch = [&](int b0) {
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int kc = b0 + i;
      if (tile_ok && kc < nck) {
        wq[i] = __ldcs(wp + static_cast<int64_t>(kc) * 32);
#pragma unroll
        for (int p = 0; p < kParams; ++p) {
          const int64_t grp = ((kc0 + kc) * 64 + p * 32) / GS;
          sc[i][p][0] = load_param<SDT>(m.scales, p0 + grp);
          sc[i][p][1] = load_param<SDT>(m.biases, p0 + grp);
          sc[i][p][2] = load_param<SDT>(m.scales, p1 + grp);
          sc[i][p][3] = load_param<SDT>(m.biases, p1 + grp);
        }
      }
    }
  };
  // The first batch is in flight while x is staged.
  load_batch(0);
  for (int i = static_cast<int>(threadIdx.x); i < T * nck * 16; i += kDecWarps * 32) {
    const int tok = i / (nck * 16), q = i % (nck * 16);
    float4 v = __ldg(reinterpret_cast<const float4*>(x + tok * K + kc0 * 64) + q);
    if (jobs.gate != 0) {
      const float4 u = __ldg(reinterpret_cast<const float4*>(jobs.up + tok * K + kc0 * 64) + q);
      const bool si = jobs.gate == 1;
      v.x = round_dt((si ? silu(v.x) : gelu_tanh(v.x)) * u.x, act);
      v.y = round_dt((si ? silu(v.y) : gelu_tanh(v.y)) * u.y, act);
      v.z = round_dt((si ? silu(v.z) : gelu_tanh(v.z)) * u.z, act);
      v.w = round_dt((si ? silu(v.w) : gelu_tanh(v.w)) * u.w, act);
    }
    *reinterpret_cast<uint2*>(xs + tok * stride + 2 * q) = make_uint2(pack2<F16>(v.x, v.y), pack2<F16>(v.z, v.w));
  }
  __syncthreads();

  const bool has_x = g < T;
  const uint32_t* xrow = xs + (has_x ? g : 0) * stride + 2 * c;
  float out[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  float acc[4], sacc[4];
  for (int b0 = 0; tile_ok && b0 < nck; b0 += kBatch) {
    if (b0 > 0) load_batch(b0);
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      if (b0 + i >= nck) break;
      const uint32_t wv[4] = {wq[i].x, wq[i].y, wq[i].z, wq[i].w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int step = i * 4 + j;  // batches start on a group boundary (kBatch * 64 % GS == 0)
        if (step % kStepsPerGroup == 0) {
#pragma unroll
          for (int r = 0; r < 4; ++r) acc[r] = sacc[r] = 0.0f;
        }
        uint2 xb = make_uint2(0u, 0u);
        if (has_x) xb = *reinterpret_cast<const uint2*>(xrow + (b0 + i) * 32 + 8 * j);
        const uint32_t w = wv[j];
        mma16816<F16>(acc, (w & 0x000F000Fu) | kMagic, ((w >> 4) & 0x000F000Fu) | kMagic,
                      ((w >> 8) & 0x000F000Fu) | kMagic, ((w >> 12) & 0x000F000Fu) | kMagic, xb.x, xb.y);
        mma16816<F16>(sacc, kOnes, kOnes, kOnes, kOnes, xb.x, xb.y);
        if (step % kStepsPerGroup == kStepsPerGroup - 1) {
          // The group's parameters were loaded with the chunk it starts in.
          const int first = (step + 1 - kStepsPerGroup) / 4;
          const int p = GS == 32 ? j / 2 : 0;
          const float* pr = sc[first][p];
          const float c0 = __fmaf_rn(-kOffset, pr[0], pr[1]), c1 = __fmaf_rn(-kOffset, pr[2], pr[3]);
          out[0] = __fmaf_rn(c0, sacc[0], __fmaf_rn(pr[0], acc[0], out[0]));
          out[1] = __fmaf_rn(c0, sacc[1], __fmaf_rn(pr[0], acc[1], out[1]));
          out[2] = __fmaf_rn(c1, sacc[2], __fmaf_rn(pr[2], acc[2], out[2]));
          out[3] = __fmaf_rn(c1, sacc[3], __fmaf_rn(pr[2], acc[3], out[3]));
        }
      }
    }
  }

  if (S > 1) {
    __shared__ int is_last;
    float* mine = part + ((static_cast<int64_t>(rbg) * S + split) * kDecWarps + warp) * 128 + lane * 4;
    *reinterpret_cast<float4*>(mine) = make_float4(out[0], out[1], out[2], out[3]);
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) is_last = atomicAdd(counters + rbg, 1) == S - 1;
    __syncthreads();
    if (!is_last) return;
    __threadfence();
#pragma unroll
    for (int r = 0; r < 4; ++r) out[r] = 0.0f;
    for (int sp = 0; sp < S; ++sp) {
      const float4 v = __ldcg(reinterpret_cast<const float4*>(
          part + ((static_cast<int64_t>(rbg) * S + sp) * kDecWarps + warp) * 128 + lane * 4));
      out[0] += v.x; out[1] += v.y; out[2] += v.z; out[3] += v.w;
    }
    if (threadIdx.x == 0) counters[rbg] = 0;  // ready for the next launch (same stream)
  }
  if (!tile_ok) return;
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int64_t row = r < 2 ? row0 : row1;
    const int tok = 2 * c + (r & 1);
    if (row < m.N && tok < T) {
      const float b = bias ? load_dt(bias, row, bias_dt) : 0.0f;
      yp[static_cast<int64_t>(tok) * m.N + row] = round_dt(out[r] + b, act);
    }
  }
}

using DecKernel = void (*)(Q4DecJobs, const float*, int, int, Dt, float*, int*);

template <bool F16, Dt SDT>
DecKernel kernel_gs(int gs) {
  if (gs == 32) return qgemv_q4dec_kernel<F16, SDT, 32>;
  if (gs == 64) return qgemv_q4dec_kernel<F16, SDT, 64>;
  return qgemv_q4dec_kernel<F16, SDT, 128>;
}

template <bool F16>
DecKernel kernel_sdt(Dt sdt, int gs) {
  if (sdt == Dt::BF16) return kernel_gs<F16, Dt::BF16>(gs);
  if (sdt == Dt::F16) return kernel_gs<F16, Dt::F16>(gs);
  return kernel_gs<F16, Dt::F32>(gs);
}

DecKernel kernel_for(const Q4DecJobs& j, Dt act) {
  return act == Dt::F16 ? kernel_sdt<true>(j.m[0].sdt, j.m[0].group_size)
                        : kernel_sdt<false>(j.m[0].sdt, j.m[0].group_size);
}

int64_t row_blocks_of(const QuantMatrix& m) { return ((m.N + 15) / 16 + kDecWarps - 1) / kDecWarps; }

struct DecPlan {
  int64_t row_blocks = 0;
  int splits = 1, split_chunks = 1;
};

// About 4 blocks per SM in all (measured best against one wave by occupancy and against 1, 2 and
// 8 per SM), at least as many splits as the staging limit needs.
DecPlan plan(const Q4DecJobs& j, int num_sms) {
  DecPlan p;
  const QuantMatrix& m = j.m[0];
  const int64_t KC = m.K >> 6;
  const int64_t unit = std::max(1, m.group_size / 64);  // a split holds whole groups
  for (int i = 0; i < j.n; ++i) p.row_blocks += row_blocks_of(j.m[i]);
  const int64_t want = (4 * int64_t{num_sms} + p.row_blocks - 1) / p.row_blocks;
  const int64_t s = std::max<int64_t>(1, std::min<int64_t>(want, 64));
  int64_t chunks = (KC + s - 1) / s;
  chunks = std::min<int64_t>((chunks + unit - 1) / unit * unit, kDecMaxSplitCols / 64 / unit * unit);
  chunks = std::max<int64_t>(chunks, unit);
  p.split_chunks = static_cast<int>(chunks);
  p.splits = static_cast<int>((KC + chunks - 1) / chunks);
  return p;
}

}  // namespace

bool q4dec_compatible(const Q4DecJobs& j) {
  if (j.n < 1 || j.n > kQ4decMaxJobs) return false;
  for (int i = 0; i < j.n; ++i) {
    const QuantMatrix& m = j.m[i];
    if (!m.tiled || m.K != j.m[0].K || m.group_size != j.m[0].group_size || m.sdt != j.m[0].sdt)
      return false;
  }
  return true;
}

int q4dec_splits(const Q4DecJobs& j, int num_sms) { return plan(j, num_sms).splits; }

int64_t q4dec_counters(const Q4DecJobs& j) {
  int64_t rb = 0;
  for (int i = 0; i < j.n; ++i) rb += row_blocks_of(j.m[i]);
  return rb;
}

int64_t q4dec_part_floats(const Q4DecJobs& j, int splits) {
  return q4dec_counters(j) * kDecWarps * splits * 128;
}

void launch_qgemv_q4dec(Q4DecJobs j, const float* x, int T, Dt act, int num_sms, float* part,
                        int* counters, cudaStream_t stream) {
  int64_t end = 0;
  for (int i = 0; i < j.n; ++i) j.rb_end[i] = static_cast<int>(end += row_blocks_of(j.m[i]));
  const DecPlan p = plan(j, num_sms);
  const dim3 grid(static_cast<unsigned>(p.row_blocks), static_cast<unsigned>(p.splits));
  const size_t smem = static_cast<size_t>(T) * (p.split_chunks * 32 + kDecPad) * sizeof(uint32_t);
  kernel_for(j, act)<<<grid, kDecWarps * 32, smem, stream>>>(
      j, x, T, p.split_chunks, act, part, counters);
}

}  // namespace ollmlx::cuda
