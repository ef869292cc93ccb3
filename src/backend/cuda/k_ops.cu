// Small ops of the CUDA backend: embedding lookups, RMSNorm, elementwise ops (add, scale,
// softcap, gated SiLU/GELU), rotary embeddings and row gathers. Each follows the CPU backend's
// float32 arithmetic and rounds its output to the activation dtype.
#include <cuda_runtime.h>

#include "backend/cuda/common.cuh"

namespace ollmlx::cuda {
namespace {

int grid_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

// ---- embed ------------------------------------------------------------------------------------

__global__ void embed_kernel(const QuantMatrix qm, const void* dense, Dt wdt, int64_t D,
                             const int32_t* ids, Dt compute, Dt act, float* y) {
  const int64_t i = blockIdx.x;
  const int64_t k = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (k >= D) return;
  const int64_t id = ids[i];
  float v;
  if (qm.w) {
    const int64_t words = D * qm.bits / 32;
    const int64_t groups = D / qm.group_size;
    uint32_t q;
    if (qm.tiled) {  // kernels.h: tiled 4-bit layout
      const int64_t tile = id >> 4;
      const int r16 = static_cast<int>(id & 15), g = r16 & 7, h = r16 >> 3;
      const int i = static_cast<int>(k & 15), c = i >> 2, e = i & 3;
      const int64_t word = ((tile * (D >> 6) + (k >> 6)) * 32 + (g * 4 + c)) * 4 + ((k >> 4) & 3);
      const int nib = (e & 1) * 4 + (e >> 1) * 2 + h;
      q = (qm.w[word] >> (4 * nib)) & 15u;
    } else {
      q = packed_element(qm.w + id * words, k, qm.bits);
    }
    const float s = load_dt(qm.scales, id * groups + k / qm.group_size, qm.sdt);
    const float b = load_dt(qm.biases, id * groups + k / qm.group_size, qm.sdt);
    // MLX dequantizes in the table's dtype: q*s rounded, then + bias rounded (no FMA).
    v = round_dt(__fmul_rn(s, static_cast<float>(q)), compute);
    v = round_dt(__fadd_rn(v, b), compute);
  } else {
    v = round_dt(load_dt(dense, id * D + k, wdt), compute);
  }
  y[i * D + k] = round_dt(v, act);
}

// ---- rms_norm -----------------------------------------------------------------------------------
// A row is read into registers with all loads issued at once (decode rows are single and
// latency-bound: one round trip to memory instead of one per loop iteration).

__device__ __forceinline__ float norm_value(float xv, float inv, float wv, Dt act) {
  const float n = round_dt(__fmul_rn(xv, inv), act);
  return round_dt(__fmul_rn(n, wv), act);
}

// One warp per row, dim <= 32 * kWarpMaxV.
constexpr int kWarpMaxV = 32;
// ADD: x is a + b (the residual add, rounded to act as EwOp::Add), also written to `sum`.
template <bool ADD>
__global__ void rms_norm_warp_kernel(const float* x, const float* b, float* sum, int64_t rows,
                                     int64_t dim, const void* w, Dt wdt, float eps, Dt act, float* y) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + row * dim;
  float* yr = y + row * dim;
  float xv[kWarpMaxV], wv[kWarpMaxV];
#pragma unroll
  for (int k = 0; k < kWarpMaxV; ++k) {
    const int64_t i = lane + 32 * k;
    xv[k] = i < dim ? xr[i] : 0.0f;
    if constexpr (ADD) xv[k] = i < dim ? round_dt(xv[k] + b[row * dim + i], act) : 0.0f;
    wv[k] = i < dim ? load_dt(w, i, wdt) : 0.0f;
  }
  if constexpr (ADD) {
#pragma unroll
    for (int k = 0; k < kWarpMaxV; ++k) {
      const int64_t i = lane + 32 * k;
      if (i < dim) sum[row * dim + i] = xv[k];
    }
  }
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < kWarpMaxV; ++k) s = __fmaf_rn(xv[k], xv[k], s);
  s = warp_sum(s);
  const float inv = 1.0f / sqrtf(s / static_cast<float>(dim) + eps);
#pragma unroll
  for (int k = 0; k < kWarpMaxV; ++k) {
    const int64_t i = lane + 32 * k;
    if (i < dim) yr[i] = norm_value(xv[k], inv, wv[k], act);
  }
}

// One block of kNormThreads per row; rows longer than kNormThreads * kBlockMaxV are finished by
// a loop that reads the rest again.
constexpr int kNormThreads = 512;
constexpr int kBlockMaxV = 16;
template <bool ADD>
__global__ void __launch_bounds__(kNormThreads) rms_norm_block_kernel(const float* x, const float* b,
                                                                    float* sum, int64_t dim,
                                                                    const void* w, Dt wdt, float eps,
                                                                    Dt act, float* y) {
  __shared__ float part[kNormThreads / 32];
  const int64_t row = blockIdx.x;
  const float* xr = x + row * dim;
  float* yr = y + row * dim;
  const int tid = static_cast<int>(threadIdx.x);
  float xv[kBlockMaxV], wv[kBlockMaxV];
#pragma unroll
  for (int k = 0; k < kBlockMaxV; ++k) {
    const int64_t i = tid + static_cast<int64_t>(kNormThreads) * k;
    xv[k] = i < dim ? xr[i] : 0.0f;
    if constexpr (ADD) {
      xv[k] = i < dim ? round_dt(xv[k] + b[row * dim + i], act) : 0.0f;
      if (i < dim) sum[row * dim + i] = xv[k];
    }
    wv[k] = i < dim ? load_dt(w, i, wdt) : 0.0f;
  }
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < kBlockMaxV; ++k) s = __fmaf_rn(xv[k], xv[k], s);
  for (int64_t i = tid + static_cast<int64_t>(kNormThreads) * kBlockMaxV; i < dim; i += kNormThreads) {
    float v = xr[i];
    if constexpr (ADD) {
      v = round_dt(v + b[row * dim + i], act);
      sum[row * dim + i] = v;
    }
    s = __fmaf_rn(v, v, s);
  }
  // The tail below re-reads the row: from `sum` (this thread's own writes) when adding.
  if constexpr (ADD) xr = sum + row * dim;
  s = warp_sum(s);
  if ((tid & 31) == 0) part[tid >> 5] = s;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormThreads / 32; ++i) total += part[i];
  const float inv = 1.0f / sqrtf(total / static_cast<float>(dim) + eps);
#pragma unroll
  for (int k = 0; k < kBlockMaxV; ++k) {
    const int64_t i = tid + static_cast<int64_t>(kNormThreads) * k;
    if (i < dim) yr[i] = norm_value(xv[k], inv, wv[k], act);
  }
  for (int64_t i = tid + static_cast<int64_t>(kNormThreads) * kBlockMaxV; i < dim; i += kNormThreads)
    yr[i] = norm_value(xr[i], inv, load_dt(w, i, wdt), act);
}

// ---- elementwise ----------------------------------------------------------------------------

__global__ void elementwise_kernel(EwOp op, const float* a, const float* b, float s, int64_t n,
                                   Dt act, float* y) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v;
    switch (op) {
      case EwOp::Add: v = a[i] + b[i]; break;
      case EwOp::Scale: v = a[i] * s; break;
      case EwOp::Softcap: v = tanhf(a[i] / s) * s; break;
      case EwOp::Silu: v = silu(a[i]) * b[i]; break;
      case EwOp::AddClip: {
        v = a[i] + b[i];
        v = v < -s ? -s : (s < v ? s : v);  // std::clamp: NaN stays NaN
        break;
      }
      default: v = gelu_tanh(a[i]) * b[i]; break;
    }
    y[i] = round_dt(v, act);
  }
}

// ---- rope -------------------------------------------------------------------------------------

// One thread per rotated pair (and per passed-through dimension): every thread computes its own
// angle, so a row needs one round trip to memory whatever its width.
__global__ void rope_kernel(const RopeArgs a) {
  const int64_t row = blockIdx.x;
  const int half = a.dims / 2;
  const int rest = a.head_dim - a.dims;
  const int pairs = a.n_heads * half;
  const int idx = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x);
  const int64_t row_len = static_cast<int64_t>(a.n_heads) * a.head_dim;
  const float* x = a.x + row * row_len;
  float* y = a.y + row * row_len;
  if (idx < pairs) {
    const int h = idx / half, i = idx % half;
    const int stride = a.traditional ? 2 : 1;
    const int second = a.traditional ? 1 : half;
    const int64_t ia = static_cast<int64_t>(h) * a.head_dim + i * stride;
    const int64_t ic = ia + second;
    float x1 = x[ia], x2 = x[ic];
    const float inv = a.inv_freq[static_cast<int64_t>(a.table_of_row[row]) * half + i];
    const float theta = (a.position_scale * static_cast<float>(a.positions[row])) * inv;
    float si, co;
    sincosf(theta, &si, &co);
    if (a.mscale != 1.0f) {
      x1 *= a.mscale;
      x2 *= a.mscale;
    }
    y[ia] = round_dt(__fsub_rn(__fmul_rn(x1, co), __fmul_rn(x2, si)), a.act);
    y[ic] = round_dt(__fadd_rn(__fmul_rn(x1, si), __fmul_rn(x2, co)), a.act);
  } else if (idx < pairs + a.n_heads * rest) {
    const int j = idx - pairs;
    const int h = j / rest, i = a.dims + j % rest;
    const int64_t o = static_cast<int64_t>(h) * a.head_dim + i;
    y[o] = round_dt(x[o], a.act);
  }
}

__global__ void gather_kernel(const float* x, int64_t D, const int32_t* rows, float* y) {
  const int64_t i = blockIdx.x;
  const int64_t src = rows[i];
  for (int64_t k = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; k < D;
       k += static_cast<int64_t>(gridDim.y) * blockDim.x)
    y[i * D + k] = x[src * D + k];
}

}  // namespace

void launch_embed(const QuantMatrix& qm, const void* dense, Dt wdt, int64_t D, const int32_t* ids,
                  int64_t n, Dt compute, Dt act, float* y, cudaStream_t stream) {
  if (n == 0) return;
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(ceil_div(D, 256)));
  embed_kernel<<<grid, 256, 0, stream>>>(qm, dense, wdt, D, ids, compute, act, y);
}

void launch_rms_norm(const float* x, int64_t rows, int64_t dim, const void* w, Dt wdt, float eps,
                     Dt act, float* y, cudaStream_t stream) {
  if (rows == 0) return;
  if (dim <= 32 * kWarpMaxV) {
    rms_norm_warp_kernel<false><<<ceil_div(rows, 4), 128, 0, stream>>>(x, nullptr, nullptr, rows, dim, w, wdt, eps, act, y);
  } else {
    rms_norm_block_kernel<false><<<static_cast<unsigned>(rows), kNormThreads, 0, stream>>>(
        x, nullptr, nullptr, dim, w, wdt, eps, act, y);
  }
}

void launch_add_rms_norm(const float* a, const float* b, int64_t rows, int64_t dim, const void* w,
                         Dt wdt, float eps, Dt act, float* sum, float* y, cudaStream_t stream) {
  if (rows == 0) return;
  if (dim <= 32 * kWarpMaxV) {
    rms_norm_warp_kernel<true><<<ceil_div(rows, 4), 128, 0, stream>>>(a, b, sum, rows, dim, w, wdt, eps, act, y);
  } else {
    rms_norm_block_kernel<true><<<static_cast<unsigned>(rows), kNormThreads, 0, stream>>>(
        a, b, sum, dim, w, wdt, eps, act, y);
  }
}

void launch_elementwise(EwOp op, const float* a, const float* b, float s, int64_t n, Dt act,
                        float* y, cudaStream_t stream) {
  if (n == 0) return;
  elementwise_kernel<<<grid_for(n, 256), 256, 0, stream>>>(op, a, b, s, n, act, y);
}

void launch_rope(const RopeArgs& a, cudaStream_t stream) {
  if (a.rows == 0) return;
  const int work = a.n_heads * (a.dims / 2) + a.n_heads * (a.head_dim - a.dims);
  const dim3 grid(static_cast<unsigned>(a.rows), static_cast<unsigned>(ceil_div(work, 256)));
  rope_kernel<<<grid, 256, 0, stream>>>(a);
}

void launch_gather_rows(const float* x, int64_t D, const int32_t* rows, int64_t n, float* y,
                        cudaStream_t stream) {
  if (n == 0 || D == 0) return;
  const int chunks = ceil_div(D, 256);
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(chunks < 1024 ? chunks : 1024));
  gather_kernel<<<grid, 256, 0, stream>>>(x, D, rows, y);
}

}  // namespace ollmlx::cuda
