// Builds the RopeSpec of a model from its config (rope_theta, rope_traditional, rope_scaling with
// type default/linear/dynamic/llama3/yarn/longrope), following mlx-lm's initialize_rope.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "backend/rope_spec.h"

namespace ollmlx {

// The architecture's defaults for fields missing from config.json (mlx-lm ModelArgs defaults).
struct RopeDefaults {
  double theta = 10000.0;      // rope_theta
  int64_t max_position = 0;    // max_position_embeddings (0 = none)
};

// dims: rotated dimensions (head_dim * partial_rotary_factor). Throws Error("config") on an
// unsupported or malformed rope_scaling.
RopeSpec rope_from_config(const nlohmann::json& cfg, int dims, const std::string& file,
                          const RopeDefaults& defaults = {});

// nn.RoPE(dims, traditional, base, scale): no scaling beyond a linear position scale.
RopeSpec rope_plain(double base, int dims, bool traditional, double position_scale,
                    const std::string& file);

// mlx-lm's SuScaledRoPE (phi3 "longrope"/"su"): periods long_factor[i] * base^(2i/dims) -- the long
// factors always, whatever the sequence length -- and the rotated part of q and k multiplied by
// sqrt(1 + ln(max_pos/orig)/ln(orig)) when max_pos > orig (else 1). Non-traditional.
RopeSpec rope_su_scaled(double base, int dims, const nlohmann::json& long_factor, int64_t max_pos,
                        int64_t original_max_pos, const std::string& file);

}  // namespace ollmlx
