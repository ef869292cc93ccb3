// Greedy token choice on the GPU (issue 7, "sampling on the GPU"): the index of the largest
// logit of every row, so only the ids cross to the host instead of [rows, vocab] floats.
// Semantics equal the host's argmax (sample/sampler.cpp): NaN is skipped, ties go to the lowest
// index, and a row with no value above -inf gives the first non-NaN index (0 if all are NaN).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace ollmlx::cuda {
namespace {

constexpr int kThreads = 512;

// Whether (v, i) beats (bv, bi): larger value, or equal value and lower index; an index < 0
// means "nothing yet". -inf counts as a value (it beats nothing-yet), NaN never does.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  if (i < 0 || v != v) return false;
  if (bi < 0) return true;
  return v > bv || (v == bv && i < bi);
}

// One block per row.
__global__ void k_argmax_rows(const float* __restrict__ x, int64_t vocab, int32_t* __restrict__ out) {
  const float* row = x + static_cast<int64_t>(blockIdx.x) * vocab;
  float bv = 0.0f;
  int bi = -1;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = row[i];
    if (better(v, static_cast<int>(i), bv, bi)) {
      bv = v;
      bi = static_cast<int>(i);
    }
  }
  // Warp reduction, then across warps through shared memory.
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_down_sync(0xffffffffu, bv, off);
    const int oi = __shfl_down_sync(0xffffffffu, bi, off);
    if (better(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
  __shared__ float sv[kThreads / 32];
  __shared__ int si[kThreads / 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    sv[warp] = bv;
    si[warp] = bi;
  }
  __syncthreads();
  if (warp == 0) {
    bv = lane < kThreads / 32 ? sv[lane] : 0.0f;
    bi = lane < kThreads / 32 ? si[lane] : -1;
    for (int off = 16; off > 0; off >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, bv, off);
      const int oi = __shfl_down_sync(0xffffffffu, bi, off);
      if (better(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) out[blockIdx.x] = bi < 0 ? 0 : bi;
  }
}

}  // namespace

void launch_argmax_rows(const float* x, int64_t rows, int64_t vocab, int32_t* out, cudaStream_t stream) {
  if (rows <= 0) return;
  k_argmax_rows<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, vocab, out);
}

}  // namespace ollmlx::cuda
