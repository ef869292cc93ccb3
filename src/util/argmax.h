// The greedy choice over a row of logits, shared by the sampler and the backends' default
// argmax_rows: the first index of the largest non-NaN value, 0 if there is none.
#pragma once

#include <cstdint>

namespace ollmlx {

int32_t argmax_f32(const float* logits, int64_t n);

}  // namespace ollmlx
