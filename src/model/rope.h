// Builds the RopeSpec of a model from its config (rope_theta, rope_traditional, rope_scaling with
// type default/linear/dynamic/llama3/yarn/longrope), following mlx-lm's initialize_rope.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "backend/rope_spec.h"

namespace ollmlx {

// dims: rotated dimensions (head_dim * partial_rotary_factor). Throws Error("config") on an
// unsupported or malformed rope_scaling.
RopeSpec rope_from_config(const nlohmann::json& cfg, int dims, const std::string& file);

}  // namespace ollmlx
