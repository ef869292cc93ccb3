// Token sampling from logits. Penalties first (repetition, presence and frequency over the
// recent history, on raw logits); then greedy (argmax, ties to the lowest id) when temperature
// is 0, else one of two filter orders:
//  * Ollama (the server's default): top_k, temperature, softmax, top_p, min_p, typical_p, draw;
//  * mlx-lm (sample_utils.make_sampler): top_p, min_p, top_k on untempered log-probs, then a
//    draw from softmax(logprobs / temperature).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "backend/sampling.h"

namespace ollmlx {

struct SamplerParams {
  float temperature = 0.0f;     // 0 = greedy
  int top_k = 0;                // 0 = off
  float top_p = 1.0f;           // 1 = off
  float min_p = 0.0f;           // 0 = off
  float typical_p = 1.0f;       // 1 = off (Ollama order only)
  bool mlx_order = true;        // filter order: mlx-lm's (true) or Ollama's (false)
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
  // tokens seen so far (prompt and generated). With a temperature, one uniform number is drawn
  // from the sampler's generator per call.
  int32_t sample(float* logits, int64_t n, const std::vector<int32_t>& history);
  // The same choice made by a backend (Backend::sample_rows): everything sample() needs besides
  // the logits, drawing the uniform number sample() would draw (so the generator advances alike
  // on either path). Only where backend_ok().
  RowSampling backend_request(const std::vector<int32_t>& history);
  // Backends implement everything but typical_p.
  bool backend_ok() const { return params_.mlx_order || params_.typical_p >= 1.0f || params_.temperature == 0.0f; }
  const SamplerParams& params() const { return params_; }
  // sample() is argmax of the raw logits: temperature 0 and no penalty (so a backend may pick
  // the token itself, ForwardBatch::argmax_only).
  bool plain_greedy() const {
    return params_.temperature == 0.0f && params_.repeat_penalty == 1.0f &&
           params_.presence_penalty == 0.0f && params_.frequency_penalty == 0.0f;
  }

 private:
  int32_t sample_ollama(const float* logits, int64_t n, double u01);
  int32_t sample_mlx(const float* logits, int64_t n, double u01);
  // The first weight whose running sum reaches u01 * total (u01 uniform in [0, 1)).
  static int32_t draw(const std::vector<std::pair<int32_t, double>>& weights, double u01);
  double next_uniform();  // one draw's uniform number in [0, 1)
  // (token, occurrences) over the penalty window of the history.
  std::vector<std::pair<int32_t, int32_t>> penalty_counts(const std::vector<int32_t>& history, int64_t n) const;
  bool has_penalties() const {
    return params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f;
  }

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> order_;   // scratch
  std::vector<float> scratch_;
};

}  // namespace ollmlx
