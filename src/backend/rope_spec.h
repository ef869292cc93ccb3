// Rotary position embedding parameters, resolved from a model config into per-frequency values
// (model/rope.cpp builds them). Backends apply: for dimension pair i (0 <= i < dims/2),
//   theta = position * position_scale * inv_freq[i]
// rotating (x[i], x[i + dims/2]) (non-traditional, HF "rotate_half") or (x[2i], x[2i+1])
// (traditional). Dimensions >= dims pass through. q and k are multiplied by `mscale` first (yarn,
// longrope). `dynamic` NTK scaling recomputes inv_freq per sequence from its length.
#pragma once

#include <cstdint>
#include <vector>

namespace ollmlx {

struct RopeSpec {
  int dims = 0;                 // rotated dimensions (<= head_dim, even)
  bool traditional = false;     // pair (2i, 2i+1) instead of (i, i + dims/2)
  std::vector<float> inv_freq;  // [dims/2]
  float position_scale = 1.0f;  // "linear" scaling: 1/factor
  float mscale = 1.0f;          // multiply the rotated part of x (yarn / longrope attention factor)
  // Dynamic NTK ("dynamic"): when a sequence's length L (pos0 + count of this pass) exceeds
  // max_position, base' = base * (factor*L/max_position - (factor-1))^(dims/(dims-2)).
  bool dynamic = false;
  float base = 10000.0f;
  float dynamic_factor = 1.0f;
  int max_position = 0;
};

// inv_freq for a plain base: base^(-2i/dims), computed in double and rounded once.
std::vector<float> rope_inv_freq(float base, int dims);
// The inverse frequencies a sequence of total length `seq_len` uses (handles `dynamic`).
std::vector<float> rope_inv_freq_for_length(const RopeSpec& spec, int64_t seq_len);

}  // namespace ollmlx
