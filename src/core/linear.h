// A linear layer's weights as MLX stores them: dense, or quantized along the input dimension.
//   y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n])
// Dense:     weight [out, in] in F32/F16/BF16.
// Affine:    weight U32 [out, in*bits/32] (per-row little-endian bit stream, element k at bits
//            [k*bits, (k+1)*bits)), scales and biases [out, in/group_size] (F32/F16/BF16);
//            W[n, k] = scales[n, k/gs] * q[n, k] + biases[n, k/gs].
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

  bool quantized() const { return quant.mode != QuantMode::None; }
  bool has_bias() const { return !bias.empty(); }
};

// Checks that the tensors of `l` have the shapes and dtypes the layout above requires; throws
// Error("weights", "...<name>...") otherwise. Backends call this on upload.
void validate_linear(const Linear& l);

}  // namespace ollmlx
