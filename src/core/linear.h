// A linear layer's weights as MLX stores them: dense, or quantized along the input dimension.
//   y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n])
// Dense:     weight [out, in] in F32/F16/BF16.
// Affine:    weight U32 [out, in*bits/32] (per-row little-endian bit stream, element k at bits
//            [k*bits, (k+1)*bits)), scales and biases [out, in/group_size] (F32/F16/BF16);
//            W[n, k] = scales[n, k/gs] * q[n, k] + biases[n, k/gs].
// mxfp4/mxfp8/nvfp4 (MLX "mode"): weight U32 [out, in*bits/32] with FP4 E2M1 nibbles (element
//            k at bits 4*(k%8) of word k/8) or FP8 E4M3 bytes (element k = byte k of the row),
//            scales U8 [out, in/group_size]: E8M0 (2^(s-127); mx modes, group 32) or E4M3
//            (nvfp4, group 16); no biases. W[n, k] = scale * value(q[n, k]); nvfp4 may carry a
//            float32 global scale g, which multiplies every scale by g / (448 * 6) (mx.dequantize).
// An embedding table is the same structure with out = vocab and in = hidden.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace ollmlx {

enum class QuantMode : uint8_t { None, Affine, MxFp4, MxFp8, NvFp4 };

struct QuantSpec {
  QuantMode mode = QuantMode::None;
  int bits = 0;
  int group_size = 0;
  bool operator==(const QuantSpec&) const = default;
};

std::string quant_str(const QuantSpec& q);  // "affine 4-bit g64", "bf16"...

struct Linear {
  std::string name;  // module path, e.g. "model.layers.0.self_attn.q_proj" (for error messages)
  int64_t out = 0;   // N: output features (rows)
  int64_t in = 0;    // K: input features
  QuantSpec quant;   // mode None = dense
  Tensor weight;     // dense [N, K] float, or U32 [N, K*bits/32]
  Tensor scales;     // quantized only: [N, K/group_size]
  Tensor biases;     // affine only: [N, K/group_size]
  Tensor bias;       // optional [N] additive bias (not quantized)
  // nvfp4 only: if > 0, effective scale = e4m3(scale) * global_scale / (448 * 6); 0 = none
  // (mlx-lm's QuantizedLinear stores none).
  float global_scale = 0.0f;

  bool quantized() const { return quant.mode != QuantMode::None; }
  bool has_bias() const { return !bias.empty(); }
};

// Checks that the tensors of `l` have the shapes and dtypes the layout above requires; throws
// Error("weights", "...<name>...") otherwise. Backends call this on upload.
void validate_linear(const Linear& l);

}  // namespace ollmlx
