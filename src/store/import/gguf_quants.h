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

}  // namespace ollmlx::gguf
