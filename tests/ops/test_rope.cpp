// RoPE through the Backend interface against the reference, for every variant the models use:
// default, linear (position_scale), llama3-style custom inverse frequencies, dynamic NTK (per
// sequence), mscale (yarn / longrope), traditional pairs, partial rotation (dims < head_dim), on
// batches mixing sequences at different positions.
#include <gtest/gtest.h>

#include <cmath>

#include "reference.h"
#include "test_util.h"

namespace ollmlx::test {
namespace {

struct Variant {
  std::string name;
  RopeSpec spec;
  int head_dim;
};

// Llama-3 frequency scaling (mlx-format.md §3.1) -> inverse frequencies.
std::vector<float> llama3_inv_freq(double base, int dims, double factor, double low, double high,
                                   double orig) {
  std::vector<float> inv(static_cast<size_t>(dims / 2));
  const double low_wl = orig / low, high_wl = orig / high;
  for (int i = 0; i < dims / 2; ++i) {
    double f = std::pow(base, 2.0 * i / dims);  // period
    const double wl = 2 * M_PI * f;
    if (wl > low_wl) {
      f *= factor;
    } else if (wl > high_wl) {
      const double s = (orig / wl - low) / (high - low);
      f = f / ((1 - s) / factor + s);
    }
    inv[static_cast<size_t>(i)] = static_cast<float>(1.0 / f);
  }
  return inv;
}

std::vector<Variant> variants() {
  std::vector<Variant> v;
  RopeSpec s;
  s.dims = 64;
  s.inv_freq = rope_inv_freq(10000.0f, 64);
  v.push_back({"default", s, 64});
  RopeSpec lin = s;
  lin.position_scale = 0.25f;
  v.push_back({"linear", lin, 64});
  RopeSpec l3;
  l3.dims = 64;
  l3.inv_freq = llama3_inv_freq(500000.0, 64, 32.0, 1.0, 4.0, 8192.0);
  v.push_back({"llama3", l3, 64});
  RopeSpec dyn = s;
  dyn.dynamic = true;
  dyn.base = 10000.0f;
  dyn.dynamic_factor = 2.0f;
  dyn.max_position = 64;
  v.push_back({"dynamic", dyn, 64});
  RopeSpec ms = s;
  ms.mscale = 1.2231f;
  v.push_back({"mscale", ms, 64});
  RopeSpec trad = s;
  trad.traditional = true;
  v.push_back({"traditional", trad, 64});
  RopeSpec part;
  part.dims = 96;
  part.inv_freq = rope_inv_freq(10000.0f, 96);
  v.push_back({"partial 96/128", part, 128});
  RopeSpec part_trad = part;
  part_trad.traditional = true;
  part_trad.mscale = 0.9f;
  v.push_back({"partial traditional mscale", part_trad, 128});
  return v;
}

BatchLayout make_batch(const std::vector<std::pair<int32_t, int32_t>>& seqs) {  // (pos0, count)
  BatchLayout b;
  int32_t begin = 0;
  int slot = 0;
  for (auto [pos0, count] : seqs) {
    b.seqs.push_back({slot++, begin, count, pos0});
    begin += count;
  }
  finalize_layout(b);
  return b;
}

// Tolerance: the angle is the same float32 value in kernel and reference; cosf/sinf are within
// ~1 ulp (6e-8) and the rotation and mscale take 3 float roundings, so each output is within
// 4e-7 * (|x1| + |x2|) * max(1, mscale) of the double result; then half an ulp of the activation
// dtype. Dimensions past spec.dims must come back bit-identical.
TEST(Rope, AllVariantsMixedBatches) {
  auto be = create_backend("cpu", 2);
  Rng rng(20);
  const std::vector<std::vector<std::pair<int32_t, int32_t>>> layouts = {
      {{0, 1}}, {{0, 37}}, {{5, 3}, {0, 20}, {4000, 1}, {63, 2}}, {{100, 64}, {7, 1}}};
  for (const Variant& var : variants()) {
    for (DType act : {DType::F32, DType::BF16, DType::F16}) {
      for (const auto& layout : layouts) {
        for (int n_heads : {1, 3}) {
          const BatchLayout batch = make_batch(layout);
          const int hd = var.head_dim;
          const int64_t T = batch.rows(), W = int64_t{n_heads} * hd;
          const std::vector<float> x =
              round_dt(act, normal_vec(rng, static_cast<size_t>(T * W), 2.0f));
          be->set_activation_dtype(act);
          poison_arena(*be);
          const std::vector<float> got =
              to_vec(*be, be->rope(act_tensor(x, T, W), n_heads, hd, batch, var.spec));
          const std::vector<double> ref = ref::rope(x, n_heads, hd, batch, var.spec);
          const double ms = std::max(1.0, double{std::fabs(var.spec.mscale)});
          const int half = var.spec.dims / 2;
          const std::string what = var.name + " act " + dt_name(act) + " heads " +
                                   std::to_string(n_heads) + " rows " + std::to_string(T);
          EXPECT_TRUE(all_close(
              got, ref,
              [&](size_t i) {
                const int d = static_cast<int>(i % static_cast<size_t>(hd));
                if (d >= var.spec.dims) return 0.0;
                const size_t base = i - static_cast<size_t>(d);
                const int pair = var.spec.traditional ? d / 2 : d % half;
                const int i1 = var.spec.traditional ? 2 * pair : pair;
                const int i2 = var.spec.traditional ? 2 * pair + 1 : pair + half;
                const double mag = std::fabs(x[base + static_cast<size_t>(i1)]) +
                                   std::fabs(x[base + static_cast<size_t>(i2)]);
                return 4e-7 * mag * ms +
                       0.5 * ulp(act, std::max(std::fabs(ref[i]), double{std::fabs(got[i])}));
              },
              what));
        }
      }
    }
  }
}

TEST(Rope, DynamicFrequenciesFollowTheSpecHelper) {
  RopeSpec s;
  s.dims = 64;
  s.inv_freq = rope_inv_freq(10000.0f, 64);
  s.dynamic = true;
  s.base = 10000.0f;
  s.dynamic_factor = 2.0f;
  s.max_position = 64;
  for (int64_t len : {1, 64, 65, 100, 5000})
    EXPECT_EQ(rope_inv_freq_for_length(s, len), ref::dynamic_inv_freq(s, len)) << len;
}

// A sequence's rotation must not depend on its neighbours in the batch (dynamic NTK included).
TEST(Rope, BatchedEqualsSeparate) {
  auto be = create_backend("cpu", 2);
  Rng rng(21);
  RopeSpec s;
  s.dims = 64;
  s.inv_freq = rope_inv_freq(10000.0f, 64);
  s.dynamic = true;
  s.dynamic_factor = 4.0f;
  s.max_position = 50;
  const std::vector<std::pair<int32_t, int32_t>> seqs = {{0, 10}, {80, 1}, {30, 30}};
  const BatchLayout all = make_batch(seqs);
  const int64_t W = 2 * 64;
  const std::vector<float> x = normal_vec(rng, static_cast<size_t>(all.rows() * W));
  be->begin_pass();
  const std::vector<float> batched =
      to_vec(*be, be->rope(act_tensor(x, all.rows(), W), 2, 64, all, s));
  for (size_t i = 0; i < seqs.size(); ++i) {
    const BatchLayout one = make_batch({seqs[i]});
    const SeqSpan& span = all.seqs[i];
    std::vector<float> xs(x.begin() + span.begin * W, x.begin() + (span.begin + span.count) * W);
    be->begin_pass();
    const std::vector<float> sep =
        to_vec(*be, be->rope(act_tensor(xs, span.count, W), 2, 64, one, s));
    EXPECT_TRUE(std::equal(sep.begin(), sep.end(), batched.begin() + span.begin * W)) << i;
  }
}

}  // namespace
}  // namespace ollmlx::test
