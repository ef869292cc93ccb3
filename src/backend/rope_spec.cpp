#include "backend/rope_spec.h"

#include <cmath>

namespace ollmlx {

std::vector<float> rope_inv_freq(float base, int dims) {
  std::vector<float> f(static_cast<size_t>(dims / 2));
  for (int i = 0; i < dims / 2; ++i)
    f[static_cast<size_t>(i)] = static_cast<float>(std::pow(static_cast<double>(base), -2.0 * i / dims));
  return f;
}

std::vector<float> rope_inv_freq_for_length(const RopeSpec& spec, int64_t seq_len) {
  if (!spec.dynamic || seq_len <= spec.max_position) return spec.inv_freq;
  const double ratio = spec.dynamic_factor * static_cast<double>(seq_len) / spec.max_position -
                       (spec.dynamic_factor - 1.0);
  const double base = spec.base * std::pow(ratio, static_cast<double>(spec.dims) / (spec.dims - 2));
  return rope_inv_freq(static_cast<float>(base), spec.dims);
}

}  // namespace ollmlx
