// Greedy token choice on the GPU (issue 7, "sampling on the GPU"): the index of the largest
// logit of every row, so only the ids cross to the host instead of [rows, vocab] floats.
// Semantics equal the host's argmax (sample/sampler.cpp): NaN is skipped, ties go to the lowest
// index, and a row with no value above -inf gives the first non-NaN index (0 if all are NaN).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace ollmlx::cuda {
namespace {

constexpr int kThreads = 256;

// Whether (v, i) beats (bv, bi): larger value, or equal value and lower index; an index < 0
// means "nothing yet". -inf counts as a value (it beats nothing-yet), NaN never does.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  if (i < 0 || v != v) return false;
  if (bi < 0) return true;
  return v > bv || (v == bv && i < bi);
}

// Merges (bv, bi) across a warp into lane 0.
__device__ __forceinline__ void warp_best(float& bv, int& bi) {
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_down_sync(0xffffffffu, bv, off);
    const int oi = __shfl_down_sync(0xffffffffu, bi, off);
    if (better(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
}

// (v, i) of the best element of row[begin, end) over a block of kThreads, in thread 0.
__device__ void block_best(const float* __restrict__ row, int64_t begin, int64_t end, float& bv, int& bi) {
  bv = 0.0f;
  bi = -1;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const float v = row[i];
    if (better(v, static_cast<int>(i), bv, bi)) {
      bv = v;
      bi = static_cast<int>(i);
    }
  }
  warp_best(bv, bi);
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
    warp_best(bv, bi);
  }
}

// Stage 1: block (chunk, row) finds the best of its chunk of the row (a single block per row
// took 42 us for a 128k vocabulary: one SM streaming 0.5 MB).
__global__ void k_argmax_chunks(const float* __restrict__ x, int64_t vocab, int64_t chunk,
                                float* __restrict__ pv, int* __restrict__ pi) {
  const int64_t r = blockIdx.y;
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * chunk;
  const int64_t end = begin + chunk < vocab ? begin + chunk : vocab;
  float bv;
  int bi;
  block_best(x + r * vocab, begin, end, bv, bi);
  if (threadIdx.x == 0) {
    pv[r * gridDim.x + blockIdx.x] = bv;
    pi[r * gridDim.x + blockIdx.x] = bi;
  }
}

// Stage 2: one warp per row merges the chunks' bests (lower chunk = lower indices on ties).
__global__ void k_argmax_merge(const float* __restrict__ pv, const int* __restrict__ pi, int chunks,
                               int32_t* __restrict__ out) {
  const int r = blockIdx.x, lane = threadIdx.x;
  float bv = 0.0f;
  int bi = -1;
  for (int c = lane; c < chunks; c += 32) {
    const float v = pv[r * chunks + c];
    const int i = pi[r * chunks + c];
    if (better(v, i, bv, bi)) {
      bv = v;
      bi = i;
    }
  }
  warp_best(bv, bi);
  if (lane == 0) out[r] = bi < 0 ? 0 : bi;
}

}  // namespace

void launch_argmax_rows(const float* x, int64_t rows, int64_t vocab, int32_t* out, float* scratch,
                        cudaStream_t stream) {
  if (rows <= 0) return;
  const int64_t chunks = kArgmaxChunks;
  const int64_t chunk = (vocab + chunks - 1) / chunks;
  float* pv = scratch;
  int* pi = reinterpret_cast<int*>(scratch + rows * chunks);
  k_argmax_chunks<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(rows)), kThreads, 0, stream>>>(
      x, vocab, chunk, pv, pi);
  k_argmax_merge<<<static_cast<unsigned>(rows), 32, 0, stream>>>(pv, pi, static_cast<int>(chunks), out);
}

}  // namespace ollmlx::cuda
