#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "util/argmax.h"
#include "util/error.h"

namespace ollmlx {

int32_t argmax(const float* logits, int64_t n) { return argmax_f32(logits, n); }

Sampler::Sampler(SamplerParams params) : params_(params) {
  if (params_.temperature < 0) throw_error("sample", "temperature must be >= 0");
  if (params_.top_p <= 0 || params_.top_p > 1) throw_error("sample", "top_p must be in (0, 1]");
  if (params_.min_p < 0 || params_.min_p > 1) throw_error("sample", "min_p must be in [0, 1]");
  if (params_.typical_p <= 0 || params_.typical_p > 1) throw_error("sample", "typical_p must be in (0, 1]");
  if (params_.top_k < 0) throw_error("sample", "top_k must be >= 0");
  if (params_.repeat_penalty <= 0) throw_error("sample", "repeat_penalty must be > 0");
  rng_.seed(params_.seed.value_or(std::random_device{}()));
}

std::vector<std::pair<int32_t, int32_t>> Sampler::penalty_counts(const std::vector<int32_t>& history,
                                                                 int64_t n) const {
  const SamplerParams& p = params_;
  const size_t window = p.penalty_last_n < 0 ? history.size()
                                             : std::min(history.size(), static_cast<size_t>(p.penalty_last_n));
  std::unordered_map<int32_t, int32_t> counts;
  for (size_t i = history.size() - window; i < history.size(); ++i)
    if (history[i] >= 0 && history[i] < n) ++counts[history[i]];
  return {counts.begin(), counts.end()};
}

int32_t Sampler::sample(float* logits, int64_t n, const std::vector<int32_t>& history) {
  const SamplerParams& p = params_;
  // Penalties over the last penalty_last_n tokens (each product and sum rounded to float32:
  // backends repeat these operations exactly).
  if (has_penalties()) {
    for (const auto& [tok, c] : penalty_counts(history, n)) {
      float& l = logits[tok];
      if (p.repeat_penalty != 1.0f) l = l < 0 ? l * p.repeat_penalty : l / p.repeat_penalty;
      l -= p.presence_penalty + p.frequency_penalty * static_cast<float>(c);
    }
  }
  if (p.temperature == 0.0f) return argmax(logits, n);
  const double u01 = next_uniform();
  return params_.mlx_order ? sample_mlx(logits, n, u01) : sample_ollama(logits, n, u01);
}

double Sampler::next_uniform() {
  // What std::uniform_real_distribution<double>(0, total) scales by total.
  return std::generate_canonical<double, std::numeric_limits<double>::digits>(rng_);
}

RowSampling Sampler::backend_request(const std::vector<int32_t>& history) {
  const SamplerParams& p = params_;
  if (!backend_ok()) throw_error("sample", "typical_p is not implemented on the backend");
  RowSampling r;
  r.temperature = p.temperature;
  r.inv_temperature = p.temperature > 0 ? 1.0f / p.temperature : 0.0f;
  r.top_k = p.top_k;
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.log_min_p = p.min_p > 0 ? std::log(p.min_p) : 0.0f;
  r.mlx_order = p.mlx_order;
  r.repeat_penalty = p.repeat_penalty;
  r.presence_penalty = p.presence_penalty;
  r.frequency_penalty = p.frequency_penalty;
  // The vocabulary size is the backend's to check (ids outside it are skipped, as here).
  if (has_penalties()) r.counts = penalty_counts(history, std::numeric_limits<int32_t>::max());
  if (p.temperature > 0.0f) r.u01 = next_uniform();
  return r;
}

int32_t Sampler::draw(const std::vector<std::pair<int32_t, double>>& weights, double u01) {
  double total = 0;
  for (const auto& [id, w] : weights) total += w;
  if (!(total > 0)) return weights.empty() ? 0 : weights.front().first;
  const double r = u01 * total;
  double acc = 0;
  for (const auto& [id, w] : weights) {
    acc += w;
    if (acc >= r) return id;
  }
  return weights.back().first;
}

// Ollama's order: top_k, temperature, softmax, top_p, min_p, typical_p.
int32_t Sampler::sample_ollama(const float* logits, int64_t n, double u01) {
  const SamplerParams& p = params_;
  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  size_t keep = order_.size();
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < keep) {
    keep = static_cast<size_t>(p.top_k);
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(keep), order_.end(), by_logit);
  } else {
    std::sort(order_.begin(), order_.end(), by_logit);
  }
  // Softmax of logits / temperature over the kept tokens (sorted descending).
  std::vector<std::pair<int32_t, double>> probs;
  probs.reserve(keep);
  const double mx = logits[order_[0]] / p.temperature;
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    const double w = std::exp(logits[order_[i]] / p.temperature - mx);
    if (!std::isfinite(w)) continue;
    probs.push_back({order_[i], w});
    sum += w;
  }
  for (auto& pr : probs) pr.second /= sum;
  if (p.top_p > 0.0f && p.top_p < 1.0f) {
    double cum = 0;
    size_t k = 0;
    while (k < probs.size()) {
      cum += probs[k].second;
      ++k;
      if (cum >= p.top_p) break;
    }
    probs.resize(std::max<size_t>(k, 1));
  }
  if (p.min_p > 0.0f && !probs.empty()) {
    const double threshold = probs.front().second * p.min_p;
    size_t k = 1;
    while (k < probs.size() && probs[k].second >= threshold) ++k;
    probs.resize(k);
  }
  if (p.typical_p > 0.0f && p.typical_p < 1.0f && probs.size() > 1) {
    // Locally typical sampling: keep the tokens whose surprise is closest to the entropy.
    double total = 0, entropy = 0;
    for (const auto& pr : probs) total += pr.second;
    for (const auto& pr : probs) {
      const double q = pr.second / total;
      if (q > 0) entropy -= q * std::log(q);
    }
    std::vector<std::pair<double, size_t>> dist;
    for (size_t i = 0; i < probs.size(); ++i)
      dist.push_back({std::fabs(-std::log(probs[i].second / total) - entropy), i});
    std::stable_sort(dist.begin(), dist.end());
    std::vector<std::pair<int32_t, double>> kept;
    double cum = 0;
    for (const auto& [d, i] : dist) {
      kept.push_back(probs[i]);
      cum += probs[i].second / total;
      if (cum >= p.typical_p) break;
    }
    probs.swap(kept);
  }
  return draw(probs, u01);
}

// mlx-lm's order: filters on untempered log-probs, then softmax(logprobs / temperature).
int32_t Sampler::sample_mlx(const float* logits, int64_t n, double u01) {
  const SamplerParams& p = params_;
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
  std::vector<std::pair<int32_t, double>> weights;
  for (int32_t i : order_)
    if (lp[i] != neg_inf) weights.push_back({i, std::exp(static_cast<double>((lp[i] - lp[order_[0]]) * inv_t))});
  return draw(weights, u01);
}

}  // namespace ollmlx
