// ggml block formats, read two ways (reference: gguf-and-ollama-import.md §2):
//  - dequantize(): to float32 exactly as gguf-py's numpy code computes it (gguf/quants.py: the
//    same float32 products and sums in the same order, no fused multiply-add), so a tensor
//    dequantized here is bit-identical to what tools/gguf_to_mlx.py writes;
//  - *_row_to_mlx(): the lossless re-packings of Q4_0, Q4_1 and Q8_0 into MLX affine
//    quantization with group size 32 (w = scale * q + bias, q unsigned):
//      Q4_0  4-bit  scale d  bias -8 d      q = nibble
//      Q4_1  4-bit  scale d  bias m         q = nibble
//      Q8_0  8-bit  scale d  bias -128 d    q = byte ^ 0x80
//    GGUF keeps element j in the low and j+16 in the high nibble of qs[j]; MLX wants element k
//    at bits 4k.. of the little-endian row bit stream.
// All functions work on whole blocks; callers pass sizes the GGUF reader has validated.
#pragma once

#include <cstdint>

#include "store/import/gguf.h"

namespace ollmlx::gguf {

// F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
bool can_dequantize(uint32_t type);
// `n` elements (a multiple of the type's block size) from `src` into `dst`.
void dequantize(uint32_t type, const uint8_t* src, int64_t n, float* dst);

// One row of `k` elements (k % 32 == 0). `w` receives the MLX weight bytes (k/2 for 4-bit, k for
// 8-bit), `scales` and `biases` k/32 values each: float32 for Q4_0/Q8_0 (d and -8d / -128d; the
// caller stores them as f16 when every value of the tensor is exact in f16, else as f32), the
// file's own f16 bits for Q4_1 (copied, NaN payloads included).
void q4_0_row_to_mlx(const uint8_t* src, int64_t k, uint8_t* w, float* scales, float* biases);
void q4_1_row_to_mlx(const uint8_t* src, int64_t k, uint8_t* w, uint16_t* scales, uint16_t* biases);
void q8_0_row_to_mlx(const uint8_t* src, int64_t k, uint8_t* w, float* scales, float* biases);

// The other block types as MLX affine, group size 32 (the "keep quantized" import mode):
//   Q5_0  5-bit  scale d       bias -16 d       exact
//   Q5_1  5-bit  scale d       bias m           exact
//   Q4_K  4-bit  scale d*sc    bias -dmin*m     exact (per 32-element sub-block)
//   Q5_K  5-bit  scale d*sc    bias -dmin*m     exact
//   Q3_K  8-bit  scale d       bias -124 d      exact: q = sc*q3 + 124 (16-element sub-blocks
//                                               with their own scale share one 8-bit grid)
//   Q6_K, Q2_K   8-bit, requantized from the dequantized values with MLX's own algorithm
//                (not exact: about half an 8-bit step, 1/8 of a Q6_K step; up to 1.5 steps where MLX clips)
// "Exact" means scale * q + bias gives back, in float32, exactly what dequantize() gives.
// Returns the MLX bits, or 0 when the type has no affine form here.
int affine_bits(uint32_t type);
bool affine_exact(uint32_t type);
// One row of `k` elements: MLX weight bytes (k * bits / 8), k/32 scales and biases (float32).
void row_to_mlx_affine(uint32_t type, const uint8_t* src, int64_t k, uint8_t* w, float* scales,
                       float* biases);
// MLX's affine quantization of one group (mlx/ops.cpp, CPU variant): q[i] in [0, 2^bits - 1].
void mlx_quantize_group(const float* x, int n, int bits, uint8_t* q, float* scale, float* bias);
// Packs `n` values of `bits` bits into MLX's little-endian bit stream at `out` (n*bits/8 bytes).
void pack_bits(const uint8_t* q, int64_t n, int bits, uint8_t* out);

}  // namespace ollmlx::gguf
