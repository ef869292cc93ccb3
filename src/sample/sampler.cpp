#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "util/error.h"

namespace ollmlx {

int32_t argmax(const float* logits, int64_t n) {
  int32_t best = -1;
  float best_v = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = logits[i];
    if (std::isnan(v)) continue;
    if (best < 0 || v > best_v) {
      best = static_cast<int32_t>(i);
      best_v = v;
    }
  }
  return best < 0 ? 0 : best;
}

Sampler::Sampler(SamplerParams params) : params_(params) {
  if (params_.temperature < 0) throw_error("sample", "temperature must be >= 0");
  if (params_.top_p <= 0 || params_.top_p > 1) throw_error("sample", "top_p must be in (0, 1]");
  if (params_.min_p < 0 || params_.min_p > 1) throw_error("sample", "min_p must be in [0, 1]");
  if (params_.top_k < 0) throw_error("sample", "top_k must be >= 0");
  if (params_.repeat_penalty <= 0) throw_error("sample", "repeat_penalty must be > 0");
  rng_.seed(params_.seed.value_or(std::random_device{}()));
}

int32_t Sampler::sample(float* logits, int64_t n, const std::vector<int32_t>& history) {
  const SamplerParams& p = params_;
  // Penalties over the last penalty_last_n tokens.
  if (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    const size_t window = p.penalty_last_n < 0 ? history.size()
                                               : std::min(history.size(), static_cast<size_t>(p.penalty_last_n));
    std::unordered_map<int32_t, int> counts;
    for (size_t i = history.size() - window; i < history.size(); ++i)
      if (history[i] >= 0 && history[i] < n) ++counts[history[i]];
    for (const auto& [tok, c] : counts) {
      float& l = logits[tok];
      if (p.repeat_penalty != 1.0f) l = l < 0 ? l * p.repeat_penalty : l / p.repeat_penalty;
      l -= p.presence_penalty + p.frequency_penalty * static_cast<float>(c);
    }
  }
  if (p.temperature == 0.0f) return argmax(logits, n);

  // Log-probs (untempered).
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
  const float lse = mx + static_cast<float>(std::log(sum));
  scratch_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scratch_[static_cast<size_t>(i)] = logits[i] - lse;
  float* lp = scratch_.data();
  const float neg_inf = -std::numeric_limits<float>::infinity();

  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  std::sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });

  if (p.top_p > 0.0f && p.top_p < 1.0f) {
    // Keep the most probable tokens whose cumulative probability reaches top_p.
    double cum = 0;
    size_t keep = 0;
    for (; keep < order_.size(); ++keep) {
      cum += std::exp(static_cast<double>(lp[order_[keep]]));
      if (cum >= p.top_p) {
        ++keep;
        break;
      }
    }
    for (size_t i = std::max<size_t>(keep, 1); i < order_.size(); ++i) lp[order_[i]] = neg_inf;
  }
  if (p.min_p > 0.0f) {
    const float threshold = lp[order_[0]] + std::log(p.min_p);
    for (size_t i = 1; i < order_.size(); ++i)
      if (lp[order_[i]] < threshold) lp[order_[i]] = neg_inf;
  }
  if (p.top_k > 0)
    for (size_t i = static_cast<size_t>(p.top_k); i < order_.size(); ++i) lp[order_[i]] = neg_inf;

  // Draw from softmax(lp / temperature).
  const float inv_t = 1.0f / p.temperature;
  double total = 0;
  for (int32_t i : order_)
    if (lp[i] != neg_inf) total += std::exp(static_cast<double>((lp[i] - lp[order_[0]]) * inv_t));
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_), acc = 0;
  for (int32_t i : order_) {
    if (lp[i] == neg_inf) continue;
    acc += std::exp(static_cast<double>((lp[i] - lp[order_[0]]) * inv_t));
    if (acc >= r) return i;
  }
  return order_[0];
}

}  // namespace ollmlx
