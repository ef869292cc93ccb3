// ggml block decoding (gguf_quants.h). Built with -ffp-contract=off: each product and sum is
// rounded to float32 on its own, as numpy does, so results match gguf-py bit for bit.
#include "store/import/gguf_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "util/error.h"
#include "util/half.h"

namespace ollmlx::gguf {
namespace {

constexpr int kQK = 256;  // K-quant super-block

inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void dq_q4_0(const uint8_t* b, float* y) {
  const float d = h2f(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(static_cast<int>(qs[j] & 0x0F) - 8);
    y[j + 16] = d * static_cast<float>(static_cast<int>(qs[j] >> 4) - 8);
  }
}

void dq_q4_1(const uint8_t* b, float* y) {
  const float d = h2f(b), m = h2f(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(qs[j] & 0x0F) + m;
    y[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian host (checked at build: ollmlx targets x86-64 and arm64)
}

void dq_q5_0(const uint8_t* b, float* y) {
  const float d = h2f(b);
  const uint32_t qh = load_u32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = d * static_cast<float>(lo - 16);
    y[j + 16] = d * static_cast<float>(hi - 16);
  }
}

void dq_q5_1(const uint8_t* b, float* y) {
  const float d = h2f(b), m = h2f(b + 2);
  const uint32_t qh = load_u32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = d * static_cast<float>(lo) + m;
    y[j + 16] = d * static_cast<float>(hi) + m;
  }
}

void dq_q8_0(const uint8_t* b, float* y) {
  const float d = h2f(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}

// Q2_K: scales[16] | qs[64] | d | dmin.
void dq_q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = h2f(b + 80), dmin = h2f(b + 82);
  for (int e = 0; e < kQK; ++e) {
    const int sc = scales[e / 16];
    const float dl = d * static_cast<float>(sc & 0x0F);
    const float ml = dmin * static_cast<float>(sc >> 4);
    const int h = e / 128, j = (e % 128) / 32, l = e % 32;
    const int q = (qs[32 * h + l] >> (2 * j)) & 3;
    y[e] = dl * static_cast<float>(q) - ml;
  }
}

// Q3_K: hmask[32] | qs[64] | scales[12] | d.
void dq_q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* sc = b + 96;
  const float d = h2f(b + 108);
  float dl[16];
  for (int s = 0; s < 16; ++s) {
    const int lo = s < 8 ? (sc[s] & 0x0F) : (sc[s - 8] >> 4);
    const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
    const int v = static_cast<int8_t>(static_cast<uint8_t>(lo | (hi << 4))) - 32;
    dl[s] = d * static_cast<float>(v);
  }
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128, j = (e % 128) / 32, l = e % 32;
    const int low2 = (qs[32 * h + l] >> (2 * j)) & 3;
    const int hbit = (hmask[l] >> (e / 32)) & 1;
    const int q = low2 - ((hbit ^ 1) << 2);
    y[e] = dl[e / 16] * static_cast<float>(q);
  }
}

// Scales and mins of Q4_K/Q5_K's 8 sub-blocks (gguf-py Q4_K.get_scale_min).
void scale_min_k4(const uint8_t* s, int sc[8], int m[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    m[j] = s[4 + j] & 0x3F;
    sc[4 + j] = (s[8 + j] & 0x0F) | ((s[j] >> 2) & 0x30);
    m[4 + j] = (s[8 + j] >> 4) | ((s[4 + j] >> 2) & 0x30);
  }
}

// Q4_K: d | dmin | scales[12] | qs[128].
void dq_q4_k(const uint8_t* b, float* y) {
  const float d = h2f(b), dmin = h2f(b + 2);
  int sc[8], m[8];
  scale_min_k4(b + 4, sc, m);
  const uint8_t* qs = b + 16;
  for (int s = 0; s < 8; ++s) {
    const float ds = d * static_cast<float>(sc[s]);
    const float dm = dmin * static_cast<float>(m[s]);
    const int c = s / 2, shift = 4 * (s % 2);
    for (int l = 0; l < 32; ++l) {
      const int q = (qs[32 * c + l] >> shift) & 0x0F;
      y[32 * s + l] = ds * static_cast<float>(q) - dm;
    }
  }
}

// Q5_K: d | dmin | scales[12] | qh[32] | qs[128].
void dq_q5_k(const uint8_t* b, float* y) {
  const float d = h2f(b), dmin = h2f(b + 2);
  int sc[8], m[8];
  scale_min_k4(b + 4, sc, m);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int s = 0; s < 8; ++s) {
    const float ds = d * static_cast<float>(sc[s]);
    const float dm = dmin * static_cast<float>(m[s]);
    const int c = s / 2, shift = 4 * (s % 2);
    for (int l = 0; l < 32; ++l) {
      const int q = ((qs[32 * c + l] >> shift) & 0x0F) | (((qh[l] >> s) & 1) << 4);
      y[32 * s + l] = ds * static_cast<float>(q) - dm;
    }
  }
}

// Q6_K: ql[128] | qh[64] | scales[16] (int8) | d.
void dq_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = h2f(b + 208);
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128, r = e % 128;
    const int low = (ql[64 * h + r % 64] >> (r < 64 ? 0 : 4)) & 0x0F;
    const int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
    const int q = static_cast<int8_t>(static_cast<uint8_t>(low | (hi << 4))) - 32;
    const float ds = d * static_cast<float>(sc[e / 16]);
    y[e] = ds * static_cast<float>(q);
  }
}

// Element order of a legacy 4-bit block (element j low nibble, j+16 high nibble of qs[j])
// re-packed for MLX: byte b holds elements 2b (low nibble) and 2b+1 (high nibble).
void repack_nibbles(const uint8_t* qs, uint8_t* w) {
  uint8_t e[32];
  for (int j = 0; j < 16; ++j) {
    e[j] = qs[j] & 0x0F;
    e[j + 16] = qs[j] >> 4;
  }
  for (int b = 0; b < 16; ++b) w[b] = static_cast<uint8_t>(e[2 * b] | (e[2 * b + 1] << 4));
}

}  // namespace

int affine_bits(uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::Q4_K: return 4;
    case TensorType::Q5_0: case TensorType::Q5_1: case TensorType::Q5_K: return 5;
    case TensorType::Q3_K: case TensorType::Q6_K: case TensorType::Q2_K: return 8;
    default: return 0;
  }
}

bool affine_exact(uint32_t type) {
  const TensorType t = static_cast<TensorType>(type);
  return affine_bits(type) != 0 && t != TensorType::Q6_K && t != TensorType::Q2_K;
}

void pack_bits(const uint8_t* q, int64_t n, int bits, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(n * bits / 8));
  uint64_t acc = 0;
  int have = 0;
  size_t at = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc |= static_cast<uint64_t>(q[i] & ((1u << bits) - 1)) << have;
    have += bits;
    while (have >= 8) {
      out[at++] = static_cast<uint8_t>(acc & 0xFF);
      acc >>= 8;
      have -= 8;
    }
  }
}

void mlx_quantize_group(const float* x, int n, int bits, uint8_t* q, float* scale_out, float* bias_out) {
  const float n_bins = static_cast<float>((1 << bits) - 1);
  const float eps = 1e-7f;
  float w_max = x[0], w_min = x[0];
  for (int i = 1; i < n; ++i) {
    w_max = std::max(w_max, x[i]);
    w_min = std::min(w_min, x[i]);
  }
  float scale = std::max((w_max - w_min) / n_bins, eps);
  const bool neg = std::fabs(w_min) > std::fabs(w_max);
  const float edge = neg ? w_min : w_max;
  scale = neg ? scale : -scale;
  const float q0 = std::rint(edge / scale);
  float bias = 0;
  if (q0 != 0) {
    scale = edge / q0;
    bias = edge;
  }
  for (int i = 0; i < n; ++i) {
    const float v = std::rint((x[i] - bias) / scale);
    q[i] = static_cast<uint8_t>(std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, n_bins));
  }
  *scale_out = scale;
  *bias_out = bias;
}

void row_to_mlx_affine(uint32_t type, const uint8_t* src, int64_t k, uint8_t* w, float* scales, float* biases) {
  const TypeTraits* tt = type_traits(type);
  const int bits = affine_bits(type);
  OLLMLX_ASSERT(tt && bits && k % tt->block_size == 0);
  std::vector<uint8_t> q(static_cast<size_t>(k));
  const int64_t blocks = k / tt->block_size;
  switch (static_cast<TensorType>(type)) {
    case TensorType::Q5_0: case TensorType::Q5_1: {
      const bool one = static_cast<TensorType>(type) == TensorType::Q5_1;
      for (int64_t g = 0; g < blocks; ++g) {
        const uint8_t* b = src + g * tt->type_size;
        const float d = h2f(b);
        scales[g] = d;
        biases[g] = one ? h2f(b + 2) : -16.0f * d;
        const uint32_t qh = load_u32(b + (one ? 4 : 2));
        const uint8_t* qs = b + (one ? 8 : 6);
        for (int j = 0; j < 16; ++j) {
          q[g * 32 + j] = static_cast<uint8_t>((qs[j] & 0x0F) | (((qh >> j) & 1u) << 4));
          q[g * 32 + j + 16] = static_cast<uint8_t>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
        }
      }
      break;
    }
    case TensorType::Q4_K: case TensorType::Q5_K: {
      const bool five = static_cast<TensorType>(type) == TensorType::Q5_K;
      for (int64_t g = 0; g < blocks; ++g) {
        const uint8_t* b = src + g * tt->type_size;
        const float d = h2f(b), dmin = h2f(b + 2);
        int sc[8], m[8];
        scale_min_k4(b + 4, sc, m);
        const uint8_t* qh = b + 16;
        const uint8_t* qs = b + (five ? 48 : 16);
        for (int s = 0; s < 8; ++s) {
          scales[g * 8 + s] = d * static_cast<float>(sc[s]);
          biases[g * 8 + s] = -(dmin * static_cast<float>(m[s]));
          const int c = s / 2, shift = 4 * (s % 2);
          for (int l = 0; l < 32; ++l) {
            int v = (qs[32 * c + l] >> shift) & 0x0F;
            if (five) v |= ((qh[l] >> s) & 1) << 4;
            q[g * 256 + s * 32 + l] = static_cast<uint8_t>(v);
          }
        }
      }
      break;
    }
    case TensorType::Q3_K: {
      for (int64_t g = 0; g < blocks; ++g) {
        const uint8_t* b = src + g * tt->type_size;
        const uint8_t* hmask = b;
        const uint8_t* qs = b + 32;
        const uint8_t* sc = b + 96;
        const float d = h2f(b + 108);
        for (int s = 0; s < 8; ++s) {
          scales[g * 8 + s] = d;
          biases[g * 8 + s] = -124.0f * d;
        }
        for (int e = 0; e < kQK; ++e) {
          const int s = e / 16;
          const int lo = s < 8 ? (sc[s] & 0x0F) : (sc[s - 8] >> 4);
          const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
          const int scale = static_cast<int8_t>(static_cast<uint8_t>(lo | (hi << 4))) - 32;
          const int h = e / 128, j = (e % 128) / 32, l = e % 32;
          const int low2 = (qs[32 * h + l] >> (2 * j)) & 3;
          const int hbit = (hmask[l] >> (e / 32)) & 1;
          const int q3 = low2 - ((hbit ^ 1) << 2);
          q[g * 256 + e] = static_cast<uint8_t>(scale * q3 + 124);  // in [0, 252]
        }
      }
      break;
    }
    default: {  // Q6_K, Q2_K: requantize the dequantized row
      std::vector<float> x(static_cast<size_t>(k));
      dequantize(type, src, k, x.data());
      for (int64_t g = 0; g < k / 32; ++g)
        mlx_quantize_group(x.data() + g * 32, 32, 8, q.data() + g * 32, &scales[g], &biases[g]);
      break;
    }
  }
  pack_bits(q.data(), k, bits, w);
}

bool can_dequantize(uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16: case TensorType::Q4_0:
    case TensorType::Q4_1: case TensorType::Q5_0: case TensorType::Q5_1: case TensorType::Q8_0:
    case TensorType::Q2_K: case TensorType::Q3_K: case TensorType::Q4_K: case TensorType::Q5_K:
    case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dequantize(uint32_t type, const uint8_t* src, int64_t n, float* dst) {
  const TypeTraits* tt = type_traits(type);
  OLLMLX_ASSERT(tt && can_dequantize(type) && n % tt->block_size == 0);
  const int64_t blocks = n / tt->block_size;
  const int64_t bs = tt->type_size;
  switch (static_cast<TensorType>(type)) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = h2f(src + 2 * i);
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    default:
      break;
  }
  void (*fn)(const uint8_t*, float*) = nullptr;
  switch (static_cast<TensorType>(type)) {
    case TensorType::Q4_0: fn = dq_q4_0; break;
    case TensorType::Q4_1: fn = dq_q4_1; break;
    case TensorType::Q5_0: fn = dq_q5_0; break;
    case TensorType::Q5_1: fn = dq_q5_1; break;
    case TensorType::Q8_0: fn = dq_q8_0; break;
    case TensorType::Q2_K: fn = dq_q2_k; break;
    case TensorType::Q3_K: fn = dq_q3_k; break;
    case TensorType::Q4_K: fn = dq_q4_k; break;
    case TensorType::Q5_K: fn = dq_q5_k; break;
    case TensorType::Q6_K: fn = dq_q6_k; break;
    default: OLLMLX_ASSERT(false);
  }
  for (int64_t i = 0; i < blocks; ++i) fn(src + i * bs, dst + i * tt->block_size);
}

void q4_0_row_to_mlx(const uint8_t* src, int64_t k, uint8_t* w, float* scales, float* biases) {
  for (int64_t g = 0; g < k / 32; ++g) {
    const uint8_t* b = src + g * 18;
    const float d = h2f(b);
    scales[g] = d;
    biases[g] = -8.0f * d;
    repack_nibbles(b + 2, w + g * 16);
  }
}

void q4_1_row_to_mlx(const uint8_t* src, int64_t k, uint8_t* w, uint16_t* scales,
                     uint16_t* biases) {
  for (int64_t g = 0; g < k / 32; ++g) {
    const uint8_t* b = src + g * 20;
    std::memcpy(&scales[g], b, 2);
    std::memcpy(&biases[g], b + 2, 2);
    repack_nibbles(b + 4, w + g * 16);
  }
}

void q8_0_row_to_mlx(const uint8_t* src, int64_t k, uint8_t* w, float* scales, float* biases) {
  for (int64_t g = 0; g < k / 32; ++g) {
    const uint8_t* b = src + g * 34;
    const float d = h2f(b);
    scales[g] = d;
    biases[g] = -128.0f * d;
    for (int j = 0; j < 32; ++j) w[g * 32 + j] = static_cast<uint8_t>(b[2 + j] ^ 0x80);
  }
}

}  // namespace ollmlx::gguf
