// Token sampling from logits, in mlx-lm's order (sample_utils.make_sampler and
// make_logits_processors): logit processors on raw logits (repetition, presence and frequency
// penalties over the recent history), then, unless greedy, filters on untempered log-probs
// (top_p, min_p, top_k) and a draw from softmax(logprobs / temperature). Greedy = argmax with
// ties to the lowest id.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace ollmlx {

struct SamplerParams {
  float temperature = 0.0f;     // 0 = greedy
  int top_k = 0;                // 0 = off
  float top_p = 1.0f;           // 1 = off
  float min_p = 0.0f;           // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off (multiplicative, sign aware)
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int penalty_last_n = 64;      // history window for the penalties
  std::optional<uint64_t> seed;
};

// Index of the largest value; ties -> lowest index. NaN never wins.
int32_t argmax(const float* logits, int64_t n);

class Sampler {
 public:
  explicit Sampler(SamplerParams params);
  // Picks the next token from logits[n] (modified in place by the penalties) given the history of
  // tokens seen so far (prompt and generated).
  int32_t sample(float* logits, int64_t n, const std::vector<int32_t>& history);
  const SamplerParams& params() const { return params_; }

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> order_;   // scratch
  std::vector<float> scratch_;
};

}  // namespace ollmlx
