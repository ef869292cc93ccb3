// Decoding MLX's floating-point quantization modes (mlx-format.md §1.6), checked against
// mx.dequantize for every code and scale byte (tests/ops/test_fp_quant.cpp):
//  * FP4 E2M1 element (mxfp4, nvfp4): a nibble, bit 3 = sign, bits 2..0 index
//    {0, 0.5, 1, 1.5, 2, 3, 4, 6}; element k of a row at bits 4*(k%8) of word k/8, i.e. the low
//    nibble of byte k/2 for even k.
//  * FP8 E4M3 ("fn", no infinities) element (mxfp8) and nvfp4 scale: sign, 4 exponent bits (bias
//    7), 3 mantissa bits; exponent 0 = subnormal (m/8 * 2^-6); 0x7f/0xff = NaN.
//  * E8M0 scale (mx modes): 2^(s-127); MLX's CPU maps s = 255 to +inf (and s = 0 to 2^-127).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/linear.h"

namespace ollmlx::cpu::fpq {

inline float e4m3_value(uint8_t b) {
  const int sign = b >> 7, e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
  const float mag = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                           : std::ldexp(static_cast<float>(8 + m), e - 10);
  return sign ? -mag : mag;
}

inline float e8m0_value(uint8_t s) {
  if (s == 255) return std::numeric_limits<float>::infinity();
  return std::ldexp(1.0f, static_cast<int>(s) - 127);
}

inline float e2m1_value(uint8_t nibble) {
  static constexpr float kMag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float v = kMag[nibble & 7];
  return (nibble & 8) ? -v : v;
}

// 256-entry tables, built once.
struct Tables {
  std::array<float, 256> e4m3{};  // byte -> E4M3 value
  std::array<float, 256> e8m0{};  // byte -> 2^(s-127)
  std::array<float, 16> fp4{};    // nibble -> E2M1 value
  Tables() {
    for (int i = 0; i < 256; ++i) {
      e4m3[static_cast<size_t>(i)] = e4m3_value(static_cast<uint8_t>(i));
      e8m0[static_cast<size_t>(i)] = e8m0_value(static_cast<uint8_t>(i));
    }
    for (int i = 0; i < 16; ++i) fp4[static_cast<size_t>(i)] = e2m1_value(static_cast<uint8_t>(i));
  }
};

inline const Tables& tables() {
  static const Tables t;
  return t;
}

inline bool is_fp_mode(QuantMode m) {
  return m == QuantMode::MxFp4 || m == QuantMode::MxFp8 || m == QuantMode::NvFp4;
}

// The float multiplier of scale byte `s` of a layer in mode `m` (nvfp4: times g/(448*6) when the
// layer has a global scale g).
inline float scale_value(const Tables& t, QuantMode m, uint8_t s, float global_scale) {
  if (m == QuantMode::NvFp4) {
    const float v = t.e4m3[s];
    return global_scale > 0.0f ? v * (global_scale / (448.0f * 6.0f)) : v;
  }
  return t.e8m0[s];
}

// Dequantizes elements [k0, k0 + n) of a row (k0 and n multiples of the group size) into out,
// each as scale * value in float32 (exact without a global scale: the product of an E8M0/E4M3
// scale and an E2M1/E4M3 value fits a float).
inline void decode_row(const Linear& w, int64_t row, int64_t k0, int64_t n, float* out) {
  const Tables& t = tables();
  const QuantMode m = w.quant.mode;
  const int64_t gs = w.quant.group_size;
  const int bits = w.quant.bits;
  const auto* bytes = static_cast<const uint8_t*>(w.weight.data) + row * (w.in * bits / 8);
  const auto* sc = static_cast<const uint8_t*>(w.scales.data) + row * (w.in / gs);
  for (int64_t g = k0 / gs; g < (k0 + n) / gs; ++g) {
    const float s = scale_value(t, m, sc[g], w.global_scale);
    float* o = out + (g * gs - k0);
    if (bits == 8) {
      const uint8_t* b = bytes + g * gs;
      for (int64_t i = 0; i < gs; ++i) o[i] = s * t.e4m3[b[i]];
    } else {
      const uint8_t* b = bytes + g * gs / 2;
      for (int64_t i = 0; i < gs / 2; ++i) {
        o[2 * i] = s * t.fp4[b[i] & 15];
        o[2 * i + 1] = s * t.fp4[b[i] >> 4];
      }
    }
  }
}

}  // namespace ollmlx::cpu::fpq
