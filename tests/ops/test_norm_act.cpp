// RMSNorm (rows and per-head) and the gated activations through the Backend interface against
// double-precision references, for every activation and weight dtype.
#include <gtest/gtest.h>

#include "reference.h"
#include "test_util.h"

namespace ollmlx::test {
namespace {

const DType kActs[] = {DType::F32, DType::BF16, DType::F16};

// x of a previous op: already rounded to the activation dtype, with a few large and tiny rows.
std::vector<float> norm_input(Rng& rng, int64_t rows, int64_t dim, DType act) {
  std::vector<float> x = normal_vec(rng, static_cast<size_t>(rows * dim));
  for (int64_t r = 0; r < rows; ++r) {
    const float s = r % 3 == 1 ? 40.0f : r % 3 == 2 ? 0.01f : 1.0f;
    for (int64_t i = 0; i < dim; ++i) x[static_cast<size_t>(r * dim + i)] *= s;
  }
  return round_dt(act, x);
}

// The reference rounds n = x * r to act and then w * n to act, as MLX does. The kernel's float32
// r carries a relative error of at most (dim/8 + 8) * 2^-24 (a float sum of squares in 8 partial
// sums, a division, a sqrt), so:
//  * F32: |y - ref| <= (that + 2^-23) * |y|.
//  * BF16/F16: n rounds to the same act value unless x*r lies within that error of a rounding
//    boundary, which is rare: at most 1% of the elements may differ, and those by at most
//    |w| * ulp(n) + ulp(y) (one step of n, one rounding of y).
void check_norm(Backend& be, int64_t rows, int64_t dim, int64_t head_dim, DType wdt, DType act,
                Rng& rng) {
  const std::vector<float> x = norm_input(rng, rows, dim, act);
  const int64_t wn = head_dim > 0 ? head_dim : dim;
  std::vector<float> w = normal_vec(rng, static_cast<size_t>(wn), 0.5f);
  for (float& v : w) v += 1.0f;
  w = round_dt(wdt, w);
  const float eps = 1e-5f;
  be.set_activation_dtype(act);
  poison_arena(be);
  const Tensor wt = be.load_tensor(param_tensor(wdt, w, {wn}));
  const Tensor y = head_dim > 0 ? be.rms_norm_heads(act_tensor(x, rows, dim), wt, eps,
                                                    static_cast<int>(head_dim))
                                : be.rms_norm(act_tensor(x, rows, dim), wt, eps);
  const std::vector<float> got = to_vec(be, y);
  const int64_t nrows = rows * dim / wn;
  const std::vector<double> ref = ref::rms_norm(x, nrows, wn, w, eps, act);
  const double rel = (static_cast<double>(wn) / 8 + 8) * std::ldexp(1.0, -24);
  const std::string what = "rms_norm rows " + std::to_string(rows) + " dim " + std::to_string(dim) +
                           " head " + std::to_string(head_dim) + " w " + dt_name(wdt) + " act " +
                           dt_name(act);
  if (act == DType::F32) {
    EXPECT_TRUE(all_close(
        got, ref,
        [&](size_t i) { return (rel + std::ldexp(1.0, -23)) * std::fabs(ref[i]) + 1e-30; }, what));
    return;
  }
  size_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += got[i] != ref[i];
  EXPECT_LE(differ, got.size() / 100 + 1) << what;
  EXPECT_TRUE(all_close(
      got, ref,
      [&](size_t i) {
        const double wi = std::fabs(w[i % static_cast<size_t>(wn)]);
        const double n = ref[i] / (wi > 0 ? w[i % static_cast<size_t>(wn)] : 1.0);
        return wi * ulp(act, n) + ulp(act, std::max(std::fabs(ref[i]), double{std::fabs(got[i])}));
      },
      what));
}

TEST(RmsNorm, ShapesAndDtypes) {
  auto be = create_backend("cpu", 2);
  Rng rng(10);
  for (DType act : kActs)
    for (DType wdt : {DType::F32, DType::BF16, DType::F16})
      for (int64_t dim : {1, 7, 64, 576, 2048})
        for (int64_t rows : {1, 3, 130}) check_norm(*be, rows, dim, 0, wdt, act, rng);
}

TEST(RmsNorm, PerHead) {
  auto be = create_backend("cpu", 2);
  Rng rng(11);
  for (DType act : kActs)
    for (int64_t hd : {64, 128})
      for (int64_t rows : {1, 5, 70}) check_norm(*be, rows, hd * 6, hd, DType::BF16, act, rng);
}

// F32: the kernel's exp/tanh (Highway contrib math, a few ulp) and 3-4 float operations give a
// relative error well under 2e-6. tanh-GELU cancels in 1 + tanh(u) for negative g: the absolute
// error of tanh (a few 1e-8) is multiplied by 0.5 |g| |up|, hence the extra 5e-7 |g up| term.
// Outputs are then rounded to the activation dtype (half an ulp).
TEST(GatedAct, SiluAndGeluTanh) {
  auto be = create_backend("cpu", 2);
  Rng rng(12);
  for (Activation a : {Activation::Silu, Activation::GeluTanh}) {
    for (DType act : kActs) {
      for (int64_t n : {1, 3, 8, 17, 100, 1000, 40000}) {
        std::vector<float> g = normal_vec(rng, static_cast<size_t>(n), 3.0f);
        std::vector<float> u = normal_vec(rng, static_cast<size_t>(n));
        // Extremes: huge gates must not overflow into inf/NaN.
        const float extremes[] = {0.0f,    -0.0f, 88.0f, -88.0f, 200.0f,
                                  -200.0f, 1e4f,  -1e4f, 1e-20f, -1e-20f};
        for (size_t i = 0; i < std::size(extremes) && i < g.size(); ++i) g[i] = extremes[i];
        if (act == DType::F16)
          for (float& v : g) v = std::clamp(v, -300.0f, 300.0f);  // keep g * up finite in f16
        g = round_dt(act, g);
        u = round_dt(act, u);
        be->set_activation_dtype(act);
        poison_arena(*be);
        const std::vector<float> got =
            to_vec(*be, be->gated_act(act_tensor(g, 1, n), act_tensor(u, 1, n), a));
        const std::vector<double> ref = ref::gated_act(g, u, a);
        const std::string what = std::string(a == Activation::Silu ? "silu" : "gelu") + " n " +
                                 std::to_string(n) + " act " + dt_name(act);
        EXPECT_TRUE(all_close(
            got, ref,
            [&](size_t i) {
              const double gu =
                  a == Activation::GeluTanh ? 5e-7 * std::fabs(double{g[i]} * u[i]) : 0;
              return 2e-6 * std::fabs(ref[i]) + gu + 1e-37 +
                     0.5 * ulp(act, std::max(std::fabs(ref[i]), double{std::fabs(got[i])}));
            },
            what));
      }
    }
  }
}

}  // namespace
}  // namespace ollmlx::test
