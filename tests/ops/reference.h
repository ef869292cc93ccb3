// Scalar double-precision reference implementations of the backend ops, written independently of
// the kernels (bit-by-bit dequantisation, naive O(T^2) attention over a full history, ...).
// Where the op contract fixes a float32 step (RoPE angles, MLX's rounding of the normalised value
// in RMSNorm), the reference performs exactly that step and says so.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace ollmlx::ref {

// Rows `ids` of a dense or affine table -> [ids, D] (scale * q + bias in double).
std::vector<double> embed(const Linear& table, const std::vector<int32_t>& ids);

// MLX RMSNorm: n = x / sqrt(mean(x^2) + eps) in double, rounded to `act` (through float32),
// y = w * n rounded to `act`. w holds the weight values as float. x [rows, dim].
std::vector<double> rms_norm(const std::vector<float>& x, int64_t rows, int64_t dim,
                             const std::vector<float>& w, double eps, DType act);

// act(gate) * up elementwise, in double.
std::vector<double> gated_act(const std::vector<float>& gate, const std::vector<float>& up,
                              Activation act);

// Inverse frequencies of dynamic NTK scaling for a sequence of length len (own formula).
std::vector<float> dynamic_inv_freq(const RopeSpec& spec, int64_t len);

// RoPE of x [T, n_heads*head_dim]. The angle is the contract's float32 value
// theta = (position_scale * float(p)) * inv_freq[i]; cos, sin, mscale and the rotation in double.
std::vector<double> rope(const std::vector<float>& x, int n_heads, int head_dim,
                         const BatchLayout& batch, const RopeSpec& spec);

// Attention of `count` query rows at positions pos0.. of one sequence, over keys/values of
// positions [0, pos0 + count) (k_hist/v_hist [positions][n_kv_heads*head_dim]). q [count,
// n_heads*head_dim] -> [count, n_heads*head_dim]. Scores, softcap and softmax in double.
// If max_dot is given, it receives per output row the largest scale * sum_i |q_i k_i| over the
// keys the row attends (bounds the float32 rounding error of a score).
std::vector<double> attention(const std::vector<float>& q, int32_t pos0, int32_t count,
                              const std::vector<float>& k_hist, const std::vector<float>& v_hist,
                              const AttentionParams& p, std::vector<double>* max_dot = nullptr);

}  // namespace ollmlx::ref
