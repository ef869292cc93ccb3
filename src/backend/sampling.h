// What a backend needs to pick one logits row's token itself (Backend::sample_rows), so that a
// GPU sends only the id to the host: sample/sampler.h's filters, the penalty counts of the
// sequence's recent history and the uniform number the draw uses. Values that need libm (the log
// of min_p, 1/temperature) are computed once on the host, so every backend rounds them alike.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace ollmlx {

struct RowSampling {
  float temperature = 0.0f;  // 0: argmax after the penalties
  float inv_temperature = 0.0f;  // 1 / temperature in float32 (mlx-lm order)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  float min_p = 0.0f;        // 0 = off
  float log_min_p = 0.0f;    // logf(min_p) (mlx-lm order)
  bool mlx_order = true;     // filter order: mlx-lm's or Ollama's (sample/sampler.h)
  float repeat_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, int32_t>> counts;  // (token, occurrences) in the penalty window
  double u01 = 0.0;          // the draw's uniform number in [0, 1)
};

}  // namespace ollmlx
