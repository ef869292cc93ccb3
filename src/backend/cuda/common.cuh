// Device helpers shared by the CUDA kernels: reading float parameters of any dtype, rounding to
// the activation dtype exactly as the CPU backend does (cpu/convert.cpp round_to, util/half.h),
// storing to a dtype, warp reductions and MLX packed-element extraction.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace ollmlx::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t h) {
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

// Round to nearest even; NaN kept (quiet), as util/half.h f32_to_bf16.
__device__ __forceinline__ uint16_t f32_to_bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__device__ __forceinline__ float load_dt(const void* p, int64_t i, Dt dt) {
  if (dt == Dt::F32) return static_cast<const float*>(p)[i];
  if (dt == Dt::F16) return __half2float(static_cast<const __half*>(p)[i]);
  return bf16_bits_to_f32(static_cast<const uint16_t*>(p)[i]);
}

// The nearest value of dt, as float (F32: unchanged). NaN stays NaN.
__device__ __forceinline__ float round_dt(float x, Dt dt) {
  if (dt == Dt::BF16) {
    uint32_t u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return x;
    u += 0x7fffu + ((u >> 16) & 1u);
    return __uint_as_float(u & 0xffff0000u);
  }
  if (dt == Dt::F16) return __half2float(__float2half_rn(x));
  return x;
}

__device__ __forceinline__ void store_dt(void* p, int64_t i, Dt dt, float v) {
  if (dt == Dt::F32) {
    static_cast<float*>(p)[i] = v;
  } else if (dt == Dt::F16) {
    static_cast<__half*>(p)[i] = __float2half_rn(v);
  } else {
    static_cast<uint16_t*>(p)[i] = f32_to_bf16_bits(v);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Element k of an MLX affine-quantized row: a little-endian bit stream, element k at bits
// [k*bits, (k+1)*bits) (mlx-format.md §1.5).
__device__ __forceinline__ uint32_t packed_element(const uint32_t* row, int64_t k, int bits) {
  const uint64_t p = static_cast<uint64_t>(k) * static_cast<uint64_t>(bits);
  const uint64_t wi = p >> 5, off = p & 31;
  uint64_t v = static_cast<uint64_t>(row[wi]) >> off;
  if (off + static_cast<uint64_t>(bits) > 32) v |= static_cast<uint64_t>(row[wi + 1]) << (32 - off);
  return static_cast<uint32_t>(v) & ((1u << bits) - 1u);
}

// The gating activations (EwOp::Silu / GeluTanh, and the decode GEMV's gated input).
__device__ __forceinline__ float silu(float g) {
  const float e = expf(-fabsf(g));
  const float num = g >= 0.0f ? 1.0f : e;
  return g * (num / (1.0f + e));
}

__device__ __forceinline__ float gelu_tanh(float g) {
  float u = 0.7978845608028654f * __fmaf_rn(0.044715f, g * g * g, g);
  u = fminf(fmaxf(u, -10.0f), 10.0f);
  return 0.5f * g * (1.0f + tanhf(u));
}

inline int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

}  // namespace ollmlx::cuda
