// The sampler: greedy ties, reproducible seeded draws, and that each filter keeps exactly the
// tokens it should (checked by sampling many times and looking at which ids ever appear).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "sample/sampler.h"
#include "util/error.h"

namespace ollmlx {
namespace {

std::set<int32_t> support(SamplerParams p, const std::vector<float>& logits, int draws = 4000) {
  p.seed = 7;
  Sampler s(p);
  std::set<int32_t> seen;
  for (int i = 0; i < draws; ++i) {
    std::vector<float> l = logits;
    seen.insert(s.sample(l.data(), static_cast<int64_t>(l.size()), {}));
  }
  return seen;
}

// Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 at temperature 1.
const std::vector<float> kLogits = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.0625f),
                                    std::log(0.0625f)};

TEST(Sampler, GreedyTakesTheLowestIdOnTiesAndSkipsNaN) {
  std::vector<float> l = {1, 3, NAN, 3, 2};
  EXPECT_EQ(argmax(l.data(), 5), 1);
  Sampler s(SamplerParams{});
  EXPECT_EQ(s.sample(l.data(), 5, {}), 1);
}

// The vectorised argmax against the plain definition (first index of the largest non-NaN value,
// 0 if there is none) on random rows of many lengths, with ties, NaN, +-inf and coarse values.
TEST(Sampler, ArgmaxEqualsTheDefinition) {
  auto reference = [](const std::vector<float>& v) {
    int32_t best = -1;
    for (size_t i = 0; i < v.size(); ++i) {
      if (std::isnan(v[i])) continue;
      if (best < 0 || v[i] > v[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
    }
    return best < 0 ? 0 : best;
  };
  std::mt19937 rng(5);
  const float inf = std::numeric_limits<float>::infinity();
  int checked = 0;
  for (int n : {1, 2, 15, 16, 17, 63, 64, 65, 100, 128, 1000, 4097, 49152, 128256}) {
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<float> v(static_cast<size_t>(n));
      const int mode = trial % 8;
      for (float& x : v) {
        const int r = static_cast<int>(rng() % 1000);
        x = mode < 2 ? static_cast<float>(rng() % 7)                      // many ties
                     : std::uniform_real_distribution<float>(-30, 30)(rng);
        if (mode == 2 && r < 50) x = NAN;
        if (mode == 3 && r < 900) x = NAN;                               // mostly NaN
        if (mode == 4 && r < 3) x = inf;                                 // several +inf
        if (mode == 5) x = r < 500 ? -inf : NAN;                         // nothing above -inf
        if (mode == 6) x = NAN;                                          // all NaN
        if (mode == 7 && r < 999) x = -inf;                              // a rare finite value
      }
      ASSERT_EQ(argmax(v.data(), n), reference(v)) << "n=" << n << " mode=" << mode;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 14 * 40);
}

TEST(Sampler, SameSeedSameDraws) {
  for (bool mlx : {true, false}) {
    SamplerParams p;
    p.temperature = 1.0f;
    p.mlx_order = mlx;
    p.seed = 99;
    Sampler a(p), b(p);
    for (int i = 0; i < 200; ++i) {
      std::vector<float> x = kLogits, y = kLogits;
      ASSERT_EQ(a.sample(x.data(), 5, {}), b.sample(y.data(), 5, {}));
    }
  }
}

TEST(Sampler, FiltersKeepExactlyTheExpectedTokens) {
  for (bool mlx : {true, false}) {
    SamplerParams p;
    p.temperature = 1.0f;
    p.mlx_order = mlx;
    EXPECT_EQ(support(p, kLogits), (std::set<int32_t>{0, 1, 2, 3, 4}));
    SamplerParams k = p;
    k.top_k = 2;
    EXPECT_EQ(support(k, kLogits), (std::set<int32_t>{0, 1}));
    SamplerParams tp = p;
    tp.top_p = 0.7f;  // 0.5 + 0.25 reaches it
    EXPECT_EQ(support(tp, kLogits), (std::set<int32_t>{0, 1}));
    SamplerParams mp = p;
    mp.min_p = 0.2f;  // keeps p >= 0.1
    EXPECT_EQ(support(mp, kLogits), (std::set<int32_t>{0, 1, 2}));
  }
}

TEST(Sampler, PenaltiesLowerRecentTokens) {
  SamplerParams p;
  p.repeat_penalty = 100.0f;
  Sampler s(p);
  std::vector<float> l = {2.0f, 1.9f, 0.5f};
  EXPECT_EQ(s.sample(l.data(), 3, {0}), 1);  // token 0 was just generated
  SamplerParams q;
  q.presence_penalty = 5.0f;
  Sampler t(q);
  std::vector<float> m = {2.0f, 1.9f, 0.5f};
  EXPECT_EQ(t.sample(m.data(), 3, {0, 0}), 1);
}

TEST(Sampler, RejectsBadParameters) {
  SamplerParams p;
  p.top_p = 0;
  EXPECT_THROW(Sampler{p}, Error);
  p = {};
  p.temperature = -1;
  EXPECT_THROW(Sampler{p}, Error);
}

}  // namespace
}  // namespace ollmlx

namespace ollmlx {
namespace {

// Backend sampling (Backend::sample_rows) gets everything sample() uses: the same uniform numbers
// in the same order, the penalty counts of the window and the host-computed constants.
TEST(Sampler, BackendRequestCarriesTheSameDraws) {
  SamplerParams p;
  p.temperature = 1.0f;  // equal logits, no filter: sample() picks ceil(u01 * n) - 1
  p.seed = 99;
  p.repeat_penalty = 1.0f;
  Sampler host(p), backend(p);
  const int64_t n = 1000;
  for (int i = 0; i < 50; ++i) {
    std::vector<float> logits(n, 0.5f);
    const int32_t got = host.sample(logits.data(), n, {});
    const RowSampling r = backend.backend_request({});
    ASSERT_GE(r.u01, 0.0);
    ASSERT_LT(r.u01, 1.0);
    EXPECT_EQ(got, static_cast<int32_t>(std::ceil(r.u01 * static_cast<double>(n))) - 1) << "draw " << i;
  }
  SamplerParams q;
  q.temperature = 0.5f;
  q.min_p = 0.1f;
  q.top_k = 7;
  q.repeat_penalty = 1.2f;
  q.frequency_penalty = 0.5f;
  q.penalty_last_n = 3;
  q.mlx_order = false;
  q.typical_p = 1.0f;
  Sampler s(q);
  const RowSampling r = s.backend_request({5, 9, 9, 4, 9, 2});
  EXPECT_FLOAT_EQ(r.inv_temperature, 2.0f);
  EXPECT_EQ(r.log_min_p, std::log(0.1f));
  EXPECT_EQ(r.top_k, 7);
  EXPECT_FALSE(r.mlx_order);
  std::vector<std::pair<int32_t, int32_t>> counts = r.counts;
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<std::pair<int32_t, int32_t>>{{2, 1}, {4, 1}, {9, 1}}));  // the last 3
  q.typical_p = 0.9f;  // not implemented on backends
  Sampler t(q);
  EXPECT_FALSE(t.backend_ok());
  EXPECT_THROW(t.backend_request({}), Error);
  q.temperature = 0.0f;  // greedy: typical_p does not apply
  EXPECT_TRUE(Sampler(q).backend_ok());
}

}  // namespace
}  // namespace ollmlx
