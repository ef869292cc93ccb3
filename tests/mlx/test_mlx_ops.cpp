// Every op of the MLX backend against the CPU backend (itself checked against double-precision
// references in tests/ops) on random inputs; NaN never passes a comparison.
//
// The two backends agree on the formulas but not on where bf16/f16 rounding happens: the CPU
// backend computes each op in float32 and rounds its output once; MLX (as mlx-lm runs it)
// computes each primitive in the activation dtype, so a composite op (silu = g * sigmoid(g) * u,
// gelu_approx, softcap, attention's scores and probabilities) rounds after every primitive, and
// MLX's CPU quantized matmul rounds partial sums. Every op is therefore checked twice: with
// float32 activations, where only summation orders and libm differ (tight bounds, as the CUDA
// test's), and with bf16/f16 activations, with bounds derived from the number of roundings.
// eps(act) = unit roundoff (2^-8 bf16, 2^-11 f16, 2^-24 f32); ulp(act, v) = spacing at |v|.
//
//  * embed, gather_rows: bit-exact (MLX's dequantize is what the CPU reproduces).
//  * add, scale, add_clipped: one rounding on both sides: 1 ulp(act) + 1 ulp(f32).
//  * softcap (3 primitives), silu (3): 4 ulp(act, ref) + 4e-6 |ref| + 1e-6; in f16 MLX's
//    sigmoid(g) = 1 / (1 + exp(-g)) is 0 once exp(-g) overflows (g < -11.09, where the true
//    sigmoid is below 1.6e-5): + 1.6e-5 |g u| there.
//  * gelu_approx (9 primitives): 3 ulp(act, ref) + |0.5 g u| (2 ulp(act, 1) + 2 eps) (the
//    argument of tanh is off by a few eps relatively, and 1 + tanh cancels for negative gates)
//    + 1e-6 |g u| (libm).
//  * rms_norm: 3 ulp(act) + 1e-5 |ref| (as the CUDA test; MLX's kernel has the CPU's rounding).
//  * rope: 2 ulp(act) + (4e-6 + 8 * 2^-24 * pos * position_scale) * 2 max|x| of the row (times
//    max(1, mscale)); bf16/f16: + 4 eps 2 max|x| mscale, since MLX rounds cos/sin, the products
//    and the mscale product to the activation dtype. MLX derives its inverse
//    frequencies itself (base) or from the periods 1/inv_freq (freqs), so an angle may differ by
//    a few float32 ulps of theta = pos * inv_freq.
//  * linear: 1 ulp(act) + c * sum_k |x_k w_k|: c = 1e-5 (f32: summation order), 8 eps (bf16,
//    f16): MLX's CPU quantized_matmul keeps partial sums in the activation dtype (measured with
//    mlx 0.32.4: up to 2.4 eps sum|x w| in bf16 for K=2048, 5.6 eps in f16 for K=384).
//  * attention: 1 ulp(act) + 2e-5 max|v| (f32); 2 ulp(act) + max|v| (2 eps + 2 eps max|score|)
//    (bf16/f16: scores and probabilities are rounded to the activation dtype).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend/mlx/mlx_factory.h"
#include "test_util.h"
#include "util/argmax.h"
#include "util/error.h"
#include "util/half.h"

namespace ollmlx::test {
namespace {

std::unique_ptr<Backend>& mlx_backend() {
  static std::unique_ptr<Backend> be = create_backend("mlx");
  return be;
}
std::unique_ptr<Backend>& cpu_backend() {
  static std::unique_ptr<Backend> be = create_backend("cpu", 2);
  return be;
}

double eps(DType act) { return act == DType::BF16 ? 1.0 / 256 : act == DType::F16 ? 1.0 / 2048 : 0x1p-24; }

class MlxOps : public ::testing::Test {
 protected:
  void SetUp() override {
    mlx().set_debug_poison(true);
    cpu().set_debug_poison(true);
  }
  Backend& mlx() { return *mlx_backend(); }
  Backend& cpu() { return *cpu_backend(); }
  void set_act(DType act) {
    mlx().set_activation_dtype(act);
    cpu().set_activation_dtype(act);
    mlx().begin_pass();
    cpu().begin_pass();
  }
  // An F32 activation [rows, cols] on both backends (the MLX op casts it to the activation dtype).
  std::pair<Tensor, Tensor> act_pair(const std::vector<float>& v, int64_t rows, int64_t cols) {
    Tensor h = act_tensor(v, rows, cols);
    return {h, mlx().load_tensor(h)};
  }
};

::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& ref,
                                 const std::function<double(size_t)>& tol, const std::string& what) {
  std::vector<double> r(ref.begin(), ref.end());
  return all_close(got, r, tol, what);
}

double ulpf(DType act, float a, float b) {
  return ulp(act, std::max(std::fabs(static_cast<double>(a)), std::fabs(static_cast<double>(b))));
}

// ---- linear -----------------------------------------------------------------------------------

// W [N][K] as float through the CPU backend's embedding lookup (exact for every mode).
std::vector<float> dequant(Backend& cpu, const Linear& l) {
  std::vector<int32_t> ids(static_cast<size_t>(l.out));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  cpu.set_activation_dtype(DType::F32);
  return to_vec(cpu, cpu.embed(l, ids, DType::F32));
}

double param_at(const Tensor& t, int64_t i) {
  if (t.dtype == DType::F32) return t.ptr<const float>()[i];
  const uint16_t h = t.ptr<const uint16_t>()[i];
  return t.dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

void run_linear_case(Backend& mlx, Backend& cpu, const Linear& host, const Linear& dev, const std::vector<float>& w,
                     DType act, int64_t T, Rng& rng, const std::string& what) {
  const std::vector<float> xv = round_dt(act, normal_vec(rng, static_cast<size_t>(T * host.in)));
  const Tensor xh = act_tensor(xv, T, host.in);
  const Tensor xd = mlx.load_tensor(xh);
  for (Backend* b : {&mlx, &cpu}) {
    b->set_activation_dtype(act);
    b->begin_pass();
  }
  const std::vector<float> got = to_vec(mlx, mlx.linear(xd, dev));
  const std::vector<float> ref = to_vec(cpu, cpu.linear(xh, host));
  std::vector<double> mag(static_cast<size_t>(T * host.out));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < host.out; ++n) {
      double m = 0;
      for (int64_t k = 0; k < host.in; ++k)
        m += std::fabs(double{xv[static_cast<size_t>(t * host.in + k)]} * w[static_cast<size_t>(n * host.in + k)]);
      if (host.has_bias()) m += std::fabs(param_at(host.bias, n));
      mag[static_cast<size_t>(t * host.out + n)] = m;
    }
  const double c = act == DType::F32 ? 1e-5 : 8 * eps(act);
  EXPECT_TRUE(close(got, ref, [&](size_t i) { return ulpf(act, got[i], ref[i]) + c * mag[i]; }, what));
}

Linear random_affine(Rng& rng, int64_t N, int64_t K, int bits, int gs, DType sdt, bool with_bias) {
  Linear l = affine_table(rng, N, K, bits, gs, sdt);
  l.name = "proj";
  if (with_bias) l.bias = param_tensor(sdt, normal_vec(rng, static_cast<size_t>(N)), {N});
  return l;
}

TEST_F(MlxOps, LinearAffineAllBitsGroupsDtypes) {
  Rng rng(11);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      const DType sdt = gs == 64 ? DType::BF16 : gs == 32 ? DType::F16 : DType::F32;
      const int64_t K = gs == 128 ? 384 : gs == 32 ? 352 : 256;
      const Linear l = random_affine(rng, 37 + bits, K, bits, gs, sdt, bits == 4);
      const Linear d = mlx().load_linear(l);
      const std::vector<float> w = dequant(cpu(), l);
      for (DType act : {DType::BF16, DType::F32, DType::F16})
        for (int64_t T : {1, 3, 9})
          run_linear_case(mlx(), cpu(), l, d, w, act, T, rng,
                          "affine " + std::to_string(bits) + "-bit g" + std::to_string(gs) + " " + dt_name(sdt) +
                              " act " + dt_name(act) + " T=" + std::to_string(T));
    }
  }
}

// An mxfp4/mxfp8/nvfp4 layer with random codes (no E4M3 NaN codes) and scales in a normal range.
Linear fp_layer(Rng& rng, QuantMode mode, int64_t N, int64_t K, float global_scale) {
  const int bits = mode == QuantMode::MxFp8 ? 8 : 4, gs = mode == QuantMode::NvFp4 ? 16 : 32;
  Linear l;
  l.name = std::string("fp.") + quant_str({mode, bits, gs});
  l.out = N;
  l.in = K;
  l.quant = {mode, bits, gs};
  l.weight = make_host_tensor(DType::U32, {N, K * bits / 32});
  std::memset(l.weight.data, 0, l.weight.nbytes());
  for (int64_t r = 0; r < N; ++r)
    for (int64_t k = 0; k < K; ++k) {
      uint32_t q = static_cast<uint32_t>(rng.integer(0, (1 << bits) - 1));
      if (bits == 8 && (q & 0x7f) == 0x7f) q ^= 1;
      put_bits(l.weight.ptr<uint32_t>() + r * (K * bits / 32), k, bits, q);
    }
  l.scales = make_host_tensor(DType::U8, {N, K / gs});
  for (int64_t i = 0; i < l.scales.numel(); ++i)
    l.scales.ptr<uint8_t>()[i] = static_cast<uint8_t>(mode == QuantMode::NvFp4 ? rng.integer(0x20, 0x48)
                                                                              : rng.integer(118, 126));
  l.global_scale = global_scale;
  validate_linear(l);
  return l;
}

TEST_F(MlxOps, LinearFpModes) {
  Rng rng(14);
  for (auto [mode, g] : std::vector<std::pair<QuantMode, float>>{
           {QuantMode::MxFp4, 0.0f}, {QuantMode::MxFp8, 0.0f}, {QuantMode::NvFp4, 0.0f}, {QuantMode::NvFp4, 2.5f}}) {
    const Linear l = fp_layer(rng, mode, 40, 256, g);
    const Linear d = mlx().load_linear(l);
    const std::vector<float> w = dequant(cpu(), l);
    for (DType act : {DType::BF16, DType::F32})
      for (int64_t T : {1, 9})
        run_linear_case(mlx(), cpu(), l, d, w, act, T, rng,
                        l.name + (g > 0 ? " global" : "") + " act " + dt_name(act) + " T=" + std::to_string(T));
  }
}

TEST_F(MlxOps, LinearDense) {
  Rng rng(13);
  for (auto [wdt, act] : std::vector<std::pair<DType, DType>>{
           {DType::BF16, DType::BF16}, {DType::F16, DType::F16}, {DType::F32, DType::F32}, {DType::BF16, DType::F32}}) {
    Linear l;
    l.name = "dense";
    l.out = 70;
    l.in = 96;
    l.weight = param_tensor(wdt, normal_vec(rng, 70 * 96, 0.1f), {70, 96});
    l.bias = param_tensor(wdt, normal_vec(rng, 70), {70});
    const Linear d = mlx().load_linear(l);
    const std::vector<float> w = dequant(cpu(), l);
    for (int64_t T : {1, 7, 40})
      run_linear_case(mlx(), cpu(), l, d, w, act, T, rng,
                      std::string("dense ") + dt_name(wdt) + " act " + dt_name(act) + " T=" + std::to_string(T));
  }
}

// ---- embed, gather ------------------------------------------------------------------------

TEST_F(MlxOps, EmbedExact) {
  Rng rng(21);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (DType sdt : {DType::BF16, DType::F16, DType::F32}) {
      const Linear t = affine_table(rng, 50, 128, bits, bits == 3 ? 32 : 64, sdt);
      const Linear td = mlx().load_linear(t);
      std::vector<int32_t> ids;
      for (int i = 0; i < 9; ++i) ids.push_back(static_cast<int32_t>(rng.integer(0, 49)));
      for (DType compute : {sdt, DType::F32}) {
        for (DType act : {DType::BF16, DType::F32}) {
          set_act(act);
          const auto got = to_vec(mlx(), mlx().embed(td, ids, compute));
          const auto ref = to_vec(cpu(), cpu().embed(t, ids, compute));
          EXPECT_TRUE(close(got, ref, [](size_t) { return 0.0; },
                            "embed " + std::to_string(bits) + "-bit " + dt_name(sdt) + " compute " +
                                dt_name(compute) + " act " + dt_name(act)));
        }
      }
    }
  }
  for (QuantMode mode : {QuantMode::MxFp4, QuantMode::MxFp8, QuantMode::NvFp4}) {
    const Linear t = fp_layer(rng, mode, 30, 128, 0.0f);
    const Linear td = mlx().load_linear(t);
    const std::vector<int32_t> ids = {0, 29, 7, 7, 3};
    set_act(DType::F32);
    EXPECT_TRUE(close(to_vec(mlx(), mlx().embed(td, ids, DType::BF16)), to_vec(cpu(), cpu().embed(t, ids, DType::BF16)),
                      [](size_t) { return 0.0; }, "embed " + t.name));
  }
  Linear dense;
  dense.name = "embed_dense";
  dense.out = 40;
  dense.in = 72;
  dense.weight = param_tensor(DType::BF16, normal_vec(rng, 40 * 72), {40, 72});
  const Linear dd = mlx().load_linear(dense);
  set_act(DType::F16);
  const std::vector<int32_t> ids = {0, 39, 5, 5};
  EXPECT_TRUE(close(to_vec(mlx(), mlx().embed(dd, ids, DType::BF16)), to_vec(cpu(), cpu().embed(dense, ids, DType::BF16)),
                    [](size_t) { return 0.0; }, "embed dense"));
  EXPECT_THROW(mlx().embed(dd, {40}, DType::BF16), Error);
  EXPECT_THROW(mlx().embed(dd, {-1}, DType::BF16), Error);
}

TEST_F(MlxOps, GatherRowsExact) {
  Rng rng(22);
  set_act(DType::F32);
  const auto v = normal_vec(rng, 13 * 50);
  auto [h, d] = act_pair(v, 13, 50);
  const std::vector<int32_t> rows = {12, 0, 5, 5, 7};
  EXPECT_TRUE(close(to_vec(mlx(), mlx().gather_rows(d, rows)), to_vec(cpu(), cpu().gather_rows(h, rows)),
                    [](size_t) { return 0.0; }, "gather_rows"));
  EXPECT_THROW(mlx().gather_rows(d, {13}), Error);
}

// ---- norms and elementwise ------------------------------------------------------------------

TEST_F(MlxOps, RmsNorm) {
  Rng rng(31);
  for (DType act : {DType::BF16, DType::F32, DType::F16}) {
    for (int64_t dim : {64, 576, 3000}) {
      for (DType wdt : {DType::BF16, DType::F32}) {
        if (wdt == DType::F32 && act != DType::F32) continue;  // an f32 parameter makes the model f32
        set_act(act);
        const int64_t rows = 7;
        const auto xv = round_dt(act, normal_vec(rng, static_cast<size_t>(rows * dim), 3.0f));
        auto [xh, xd] = act_pair(xv, rows, dim);
        const Tensor wh = param_tensor(wdt, normal_vec(rng, static_cast<size_t>(dim)), {dim});
        const Tensor wd = mlx().load_tensor(wh);
        const auto got = to_vec(mlx(), mlx().rms_norm(xd, wd, 1e-5f));
        const auto ref = to_vec(cpu(), cpu().rms_norm(xh, wh, 1e-5f));
        EXPECT_TRUE(close(got, ref, [&](size_t i) { return 3 * ulpf(act, got[i], ref[i]) + 1e-5 * std::fabs(ref[i]); },
                          std::string("rms_norm ") + dt_name(act) + " dim " + std::to_string(dim)));
      }
    }
    set_act(act);
    const auto xv = round_dt(act, normal_vec(rng, 5 * 8 * 128));
    auto [xh, xd] = act_pair(xv, 5, 8 * 128);
    const Tensor wh = param_tensor(DType::BF16, normal_vec(rng, 128), {128});
    const Tensor wd = mlx().load_tensor(wh);
    const auto got = to_vec(mlx(), mlx().rms_norm_heads(xd, wd, 1e-6f, 128));
    const auto ref = to_vec(cpu(), cpu().rms_norm_heads(xh, wh, 1e-6f, 128));
    EXPECT_TRUE(close(got, ref, [&](size_t i) { return 3 * ulpf(act, got[i], ref[i]) + 1e-5 * std::fabs(ref[i]); },
                      std::string("rms_norm_heads ") + dt_name(act)));
  }
}

TEST_F(MlxOps, Elementwise) {
  Rng rng(32);
  for (DType act : {DType::BF16, DType::F32, DType::F16}) {
    set_act(act);
    const int64_t rows = 9, cols = 1000;
    auto av = round_dt(act, normal_vec(rng, rows * cols, 4.0f));
    auto bv = round_dt(act, normal_vec(rng, rows * cols, 4.0f));
    av[0] = 80.0f; av[1] = -80.0f; av[2] = 1e4f; av[3] = -1e4f; av[4] = 0.0f;
    if (act == DType::F16) av[2] = 1e3f, av[3] = -1e3f;  // g^3 of gelu_approx must stay finite in f16
    auto [ah, ad] = act_pair(av, rows, cols);
    auto [bh, bd] = act_pair(bv, rows, cols);
    const std::string n = dt_name(act);
    const bool f32 = act == DType::F32;
    auto exactish = [&](const std::vector<float>& g, const std::vector<float>& r) {
      return [&g, &r, act](size_t i) { return ulpf(act, g[i], r[i]) + ulp(DType::F32, r[i]); };
    };
    auto transc = [&](const std::vector<float>& g, const std::vector<float>& r) {
      return [&g, &r, act, f32](size_t i) {
        return (f32 ? 1 : 4) * ulpf(act, g[i], r[i]) + 4e-6 * std::fabs(r[i]) + 1e-6;
      };
    };
    auto f16_sigmoid = [&](size_t i) {
      return act == DType::F16 && av[i] < -11.0f ? 1.6e-5 * std::fabs(double{av[i]} * bv[i]) : 0.0;
    };
    {
      const auto g = to_vec(mlx(), mlx().add(ad, bd)), r = to_vec(cpu(), cpu().add(ah, bh));
      EXPECT_TRUE(close(g, r, exactish(g, r), "add " + n));
    }
    {
      const auto g = to_vec(mlx(), mlx().scale(ad, 0.37f)), r = to_vec(cpu(), cpu().scale(ah, 0.37f));
      // MLX multiplies by 0.37 rounded to the activation dtype (a weak-typed scalar): the model
      // code passes scales already rounded; here the difference is at most |a| ulp-of-0.37 / 0.37.
      EXPECT_TRUE(close(g, r, [&](size_t i) {
        return exactish(g, r)(i) + std::fabs(av[i]) * std::fabs(0.37 - round_dt(act, 0.37f)); }, "scale " + n));
    }
    {
      const auto g = to_vec(mlx(), mlx().softcap(ad, 30.0f)), r = to_vec(cpu(), cpu().softcap(ah, 30.0f));
      EXPECT_TRUE(close(g, r, transc(g, r), "softcap " + n));
    }
    {
      const auto g = to_vec(mlx(), mlx().gated_act(ad, bd, Activation::Silu));
      const auto r = to_vec(cpu(), cpu().gated_act(ah, bh, Activation::Silu));
      EXPECT_TRUE(close(g, r, [&](size_t i) { return transc(g, r)(i) + f16_sigmoid(i); }, "silu " + n));
    }
    {
      const auto g = to_vec(mlx(), mlx().gated_act(ad, bd, Activation::GeluTanh));
      const auto r = to_vec(cpu(), cpu().gated_act(ah, bh, Activation::GeluTanh));
      EXPECT_TRUE(close(g, r,
                        [&](size_t i) {
                          const double gu = std::fabs(double{av[i]} * bv[i]);
                          const double half = 0.5 * gu * (2 * ulp(act, 1.0) + 2 * eps(act));
                          return (f32 ? 1 : 3) * ulpf(act, g[i], r[i]) + 4e-6 * std::fabs(r[i]) + 1e-6 +
                                 (f32 ? 0.0 : half) + 1e-6 * gu;
                        },
                        "gelu " + n));
    }
    {
      const auto g = to_vec(mlx(), mlx().add_clipped(ad, bd, 5.0f));
      const auto r = to_vec(cpu(), cpu().add_clipped(ah, bh, 5.0f));
      EXPECT_TRUE(close(g, r, exactish(g, r), "add_clipped " + n));
    }
  }
}

// ---- rope -------------------------------------------------------------------------------------

TEST_F(MlxOps, RopeAllVariants) {
  Rng rng(41);
  struct V {
    std::string name;
    RopeSpec s;
    int head_dim;
  };
  std::vector<V> vs;
  RopeSpec s;
  s.dims = 64;
  s.base = 10000.0f;
  s.inv_freq = rope_inv_freq(10000.0f, 64);
  vs.push_back({"default", s, 64});
  RopeSpec lin = s;
  lin.position_scale = 0.25f;
  vs.push_back({"linear", lin, 64});
  RopeSpec big = s;
  big.base = 500000.0f;
  big.inv_freq = rope_inv_freq(500000.0f, 64);
  vs.push_back({"base 5e5", big, 64});
  RopeSpec scaled = s;  // llama3 / yarn / longrope style: a frequency table that is not base^-x
  for (size_t i = 0; i < scaled.inv_freq.size(); ++i) scaled.inv_freq[i] *= i < 16 ? 1.0f : 0.125f;
  vs.push_back({"freqs table", scaled, 64});
  RopeSpec dyn = s;
  dyn.dynamic = true;
  dyn.dynamic_factor = 2.0f;
  dyn.max_position = 64;
  vs.push_back({"dynamic", dyn, 64});
  RopeSpec ms = scaled;
  ms.mscale = 1.2231f;
  vs.push_back({"mscale", ms, 64});
  RopeSpec trad = s;
  trad.traditional = true;
  vs.push_back({"traditional", trad, 64});
  RopeSpec part;
  part.dims = 96;
  part.base = 10000.0f;
  part.inv_freq = rope_inv_freq(10000.0f, 96);
  vs.push_back({"partial 96/128", part, 128});
  RopeSpec pt = part;
  pt.traditional = true;
  pt.mscale = 0.9f;
  vs.push_back({"partial traditional mscale", pt, 128});
  BatchLayout b;
  b.seqs = {{0, 0, 5, 0}, {1, 5, 1, 100}, {2, 6, 30, 3000}, {3, 36, 1, 70}};
  finalize_layout(b);
  for (const V& v : vs) {
    for (DType act : {DType::F32, DType::BF16}) {
      set_act(act);
      const int H = 3;
      const int64_t W = int64_t{H} * v.head_dim;
      const auto xv = round_dt(act, normal_vec(rng, static_cast<size_t>(b.rows() * W)));
      auto [xh, xd] = act_pair(xv, b.rows(), W);
      const auto g = to_vec(mlx(), mlx().rope(xd, H, v.head_dim, b, v.s));
      const auto r = to_vec(cpu(), cpu().rope(xh, H, v.head_dim, b, v.s));
      const double m = std::max(1.0f, v.s.mscale);
      EXPECT_TRUE(close(g, r,
                        [&](size_t i) {
                          const size_t row = i / static_cast<size_t>(W);
                          double mx = 0;
                          for (int64_t j = 0; j < W; ++j)
                            mx = std::max(mx, double{std::fabs(xv[row * static_cast<size_t>(W) + static_cast<size_t>(j)])});
                          const double pos = b.positions[row] * double{v.s.position_scale};
                          const double half = act == DType::F32 ? 0.0 : 4 * eps(act);
                          return 2 * ulpf(act, g[i], r[i]) + (4e-6 + 8 * 0x1p-24 * pos + half) * 2 * mx * m;
                        },
                        "rope " + v.name + " " + dt_name(act)));
    }
  }
}

// ---- attention -----------------------------------------------------------------------------

struct Pass {
  int slot;
  int32_t pos0;
  int32_t count;
};

// Drives a CPU and an MLX cache through the same passes and compares every layer's output.
class AttnPair {
 public:
  AttnPair(Backend& mlx, Backend& cpu, std::vector<AttentionParams> layers, DType act, DType cdt, int max_seqs,
           int max_context, int max_chunk, uint64_t seed)
      : mlx_(mlx), cpu_(cpu), layers_(std::move(layers)), act_(act), rng_(seed) {
    KvCacheSpec spec;
    for (const AttentionParams& p : layers_) spec.layers.push_back({p.n_kv_heads, p.head_dim, p.window});
    spec.dtype = cdt;
    spec.max_seqs = max_seqs;
    spec.max_context = max_context;
    spec.max_chunk = max_chunk;
    mc_ = mlx.create_kv_cache(spec);
    cc_ = cpu.create_kv_cache(spec);
    for (int s = 0; s < max_seqs; ++s) {
      mc_->alloc_seq();
      cc_->alloc_seq();
    }
  }
  int32_t len(int slot) const { return cc_->seq_len(slot); }
  KvCache& mlx_cache() { return *mc_; }

  void pass(const std::vector<Pass>& passes, const std::string& what) {
    BatchLayout b;
    int32_t begin = 0;
    for (const Pass& p : passes) {
      b.seqs.push_back({p.slot, begin, p.count, p.pos0});
      begin += p.count;
    }
    finalize_layout(b);
    const int64_t T = b.rows();
    for (Backend* be : {&mlx_, &cpu_}) {
      be->set_activation_dtype(act_);
      be->begin_pass();
    }
    for (size_t li = 0; li < layers_.size(); ++li) {
      const AttentionParams& p = layers_[li];
      const int64_t qw = int64_t{p.n_heads} * p.head_dim, kw = int64_t{p.n_kv_heads} * p.head_dim;
      const auto q = round_dt(act_, normal_vec(rng_, static_cast<size_t>(T * qw)));
      const auto k = round_dt(act_, normal_vec(rng_, static_cast<size_t>(T * kw)));
      const auto v = round_dt(act_, normal_vec(rng_, static_cast<size_t>(T * kw)));
      const Tensor qh = act_tensor(q, T, qw), kh = act_tensor(k, T, kw), vh = act_tensor(v, T, kw);
      const auto g = to_vec(mlx_, mlx_.attention(mlx_.load_tensor(qh), mlx_.load_tensor(kh), mlx_.load_tensor(vh),
                                                 *mc_, b, p));
      const auto r = to_vec(cpu_, cpu_.attention(qh, kh, vh, *cc_, b, p));
      double vmax = 0, qmax = 0, kmax = 0;
      for (float x : v) vmax = std::max(vmax, double{std::fabs(x)});
      for (float x : q) qmax = std::max(qmax, double{std::fabs(x)});
      for (float x : k) kmax = std::max(kmax, double{std::fabs(x)});
      vmax_ = std::max(vmax_, vmax);
      kmax_ = std::max(kmax_, kmax);
      // |score| <= scale * head_dim * max|q| max|k|, capped by the softcap.
      double smax = p.scale * p.head_dim * qmax * kmax_;
      if (p.softcap > 0) smax = std::min(smax, double{p.softcap});
      const double e = eps(act_);
      EXPECT_TRUE(close(g, r,
                        [&](size_t i) {
                          if (act_ == DType::F32) return ulpf(act_, g[i], r[i]) + 2e-5 * vmax_;
                          return 2 * ulpf(act_, g[i], r[i]) + vmax_ * (2 * e + 2 * e * std::min(smax, 8.0));
                        },
                        what + " layer " + std::to_string(li)));
    }
    for (const Pass& p : passes) {
      mc_->set_len(p.slot, p.pos0 + p.count);
      cc_->set_len(p.slot, p.pos0 + p.count);
    }
  }

 private:
  Backend& mlx_;
  Backend& cpu_;
  std::vector<AttentionParams> layers_;
  DType act_;
  Rng rng_;
  double vmax_ = 0, kmax_ = 0;
  std::unique_ptr<KvCache> mc_, cc_;
};

AttentionParams params(int heads, int kv_heads, int hd, int window = 0, float softcap = 0.0f, int layer = 0) {
  AttentionParams p;
  p.layer = layer;
  p.n_heads = heads;
  p.n_kv_heads = kv_heads;
  p.head_dim = hd;
  p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  p.window = window;
  p.softcap = softcap;
  return p;
}

TEST_F(MlxOps, AttentionShapesMasksDtypes) {
  const std::vector<std::tuple<int, int, int>> shapes = {{1, 1, 32}, {4, 2, 64}, {9, 3, 64}, {8, 1, 128},
                                                         {4, 4, 80}, {2, 1, 256}, {3, 3, 4}};
  const std::vector<std::pair<DType, DType>> dts = {
      {DType::F32, DType::F32}, {DType::BF16, DType::BF16}, {DType::F16, DType::F16}, {DType::F32, DType::BF16}};
  uint64_t seed = 100;
  for (auto [h, kvh, hd] : shapes) {
    for (int window : {0, 5, 64}) {
      for (float softcap : {0.0f, 30.0f}) {
        for (auto [act, cdt] : dts) {
          const AttentionParams p = params(h, kvh, hd, window, softcap);
          AttnPair ap(mlx(), cpu(), {p}, act, cdt, 1, 512, 80, seed++);
          const std::string what = std::to_string(h) + "/" + std::to_string(kvh) + "x" + std::to_string(hd) + " w" +
                                   std::to_string(window) + " cap" + std::to_string(int(softcap)) + " " +
                                   dt_name(act) + "/" + dt_name(cdt);
          ap.pass({{0, 0, 70}}, what + " prefill");
          ap.pass({{0, 70, 1}}, what + " decode");
          ap.pass({{0, 71, 3}}, what + " small chunk");
          ap.pass({{0, 74, 1}}, what + " decode");
        }
      }
    }
  }
}

TEST_F(MlxOps, AttentionMixedBatchesRingRewind) {
  uint64_t seed = 42;
  for (bool ring : {false, true}) {
    for (auto [act, cdt] : std::vector<std::pair<DType, DType>>{{DType::F32, DType::F32}, {DType::BF16, DType::BF16}}) {
      std::vector<AttentionParams> layers = {params(6, 2, 64, 0, 0.0f, 0)};
      if (ring) layers.push_back(params(6, 2, 64, 24, 0.0f, 1));
      const int max_chunk = 16;
      AttnPair ap(mlx(), cpu(), layers, act, cdt, 4, 1024, max_chunk, seed++);
      Rng rng(seed++);
      std::vector<int32_t> furthest(4, 0);
      for (int step = 0; step < 30; ++step) {
        std::vector<Pass> passes;
        for (int slot = 0; slot < 4; ++slot) {
          if (rng.integer(0, 3) == 0) continue;
          const int32_t len = ap.len(slot);
          const int32_t lowest = ring ? std::max(0, furthest[static_cast<size_t>(slot)] - max_chunk) : 0;
          const int64_t kind = rng.integer(0, 9);
          int32_t pos0 = len, count = 1;
          if (kind < 3) {
            count = static_cast<int32_t>(rng.integer(2, max_chunk));
          } else if (kind == 3 && len > lowest) {
            pos0 = static_cast<int32_t>(rng.integer(lowest, len - 1));
            count = static_cast<int32_t>(rng.integer(1, max_chunk));
          }
          passes.push_back({slot, pos0, count});
          furthest[static_cast<size_t>(slot)] = std::max(furthest[static_cast<size_t>(slot)], pos0 + count);
        }
        if (passes.empty()) {
          passes.push_back({0, ap.len(0), 1});
          furthest[0] = std::max(furthest[0], ap.len(0) + 1);
        }
        ap.pass(passes, std::string("mixed ") + (ring ? "ring " : "") + dt_name(act) + " step " + std::to_string(step));
      }
    }
  }
}

TEST_F(MlxOps, AttentionSlidingWindowLongDecode) {
  AttnPair ap(mlx(), cpu(), {params(4, 1, 32, 16)}, DType::F32, DType::BF16, 1, 4096, 4, 77);
  ap.pass({{0, 0, 4}}, "ring prefill");
  ap.pass({{0, 4, 3}}, "ring chunk");
  for (int step = 0; step < 60; ++step) ap.pass({{0, ap.len(0), 1}}, "ring decode " + std::to_string(step));
  // Rewinding further back than the ring keeps is refused (as by the CPU cache).
  BatchLayout b;
  b.seqs = {{0, 0, 1, 10}};
  finalize_layout(b);
  const Tensor x = mlx().load_tensor(act_tensor(std::vector<float>(128, 1.0f), 1, 128));
  const Tensor kv = mlx().load_tensor(act_tensor(std::vector<float>(32, 1.0f), 1, 32));
  EXPECT_THROW(mlx().attention(x, kv, kv, ap.mlx_cache(), b, params(4, 1, 32, 16)), Error);
}

TEST_F(MlxOps, KvCacheBookkeeping) {
  KvCacheSpec spec;
  spec.layers = {{2, 8, 0}, {2, 8, 4}};
  spec.dtype = DType::BF16;
  spec.max_seqs = 2;
  spec.max_context = 300;
  spec.max_chunk = 8;
  auto c = mlx().create_kv_cache(spec);
  EXPECT_EQ(c->alloc_seq(), 0);
  EXPECT_EQ(c->alloc_seq(), 1);
  EXPECT_THROW(c->alloc_seq(), Error);
  EXPECT_EQ(c->bytes(), 0u);
  set_act(DType::BF16);
  BatchLayout b;
  b.seqs = {{1, 0, 3, 0}};
  finalize_layout(b);
  const Tensor q = mlx().load_tensor(act_tensor(std::vector<float>(3 * 16, 0.5f), 3, 16));
  std::vector<float> out;
  for (int layer : {0, 1}) mlx().to_host(mlx().attention(q, q, q, *c, b, params(2, 2, 8, layer ? 4 : 0, 0, layer)), out);
  // full layer: 256 rows; window layer: 4 + 8 rows; keys and values, 2 heads x 8, bf16.
  EXPECT_EQ(c->bytes(), 2u * (256 + 12) * 2 * 8 * 2);
  c->set_len(1, 3);
  EXPECT_EQ(c->seq_len(1), 3);
  EXPECT_THROW(c->set_len(1, 301), Error);
  c->free_seq(1);
  EXPECT_THROW(c->seq_len(1), Error);
  EXPECT_EQ(c->bytes(), 0u);
  // A cache of another backend is refused by name.
  auto cpu_cache = cpu().create_kv_cache(spec);
  cpu_cache->alloc_seq();
  b.seqs = {{0, 0, 3, 0}};
  finalize_layout(b);
  EXPECT_THROW(mlx().attention(q, q, q, *cpu_cache, b, params(2, 2, 8)), Error);
}

// ---- pipelined decoding: ids on the device ---------------------------------------------------

// The subsystem of the Error `f` throws ("" if it throws none).
std::string error_subsystem(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.subsystem();
  }
  return "";
}

TEST_F(MlxOps, ArgmaxOnTheDeviceIsTheHostArgmax) {
  Rng rng(61);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const int64_t n = 37;
  for (DType act : {DType::F32, DType::BF16, DType::F16}) {
    std::vector<float> v = round_dt(act, normal_vec(rng, static_cast<size_t>(7 * n)));
    auto row = [&](int r) { return v.data() + r * n; };
    row(1)[5] = nan;                                    // NaN skipped (MLX's argmax would pick it)
    row(1)[9] = 100.0f;
    row(2)[3] = row(2)[30] = 50.0f;                     // a tie: the lowest index
    for (int64_t j = 0; j < n; ++j) row(3)[j] = nan;    // nothing: 0
    for (int64_t j = 0; j < n; ++j) row(4)[j] = -inf;   // all -inf: 0
    row(5)[0] = nan;
    row(5)[n - 1] = inf;
    row(6)[n - 1] = 60.0f;                              // the last column
    std::vector<int32_t> want;
    for (int r = 0; r < 7; ++r) want.push_back(argmax_f32(row(r), n));
    ASSERT_EQ(want[1], 9);
    ASSERT_EQ(want[2], 3);
    set_act(act);
    const Tensor x = mlx().load_tensor(act_tensor(v, 7, n));
    EXPECT_EQ(mlx().argmax_rows(mlx().scale(x, 1.0f)), want) << dt_name(act);
    const Tensor ids = mlx().argmax_rows_async(mlx().scale(x, 1.0f));
    EXPECT_EQ(ids.dtype, DType::I32);
    EXPECT_EQ(ids.shape, (Shape{7}));
    EXPECT_EQ(mlx().read_ids(ids), want) << dt_name(act);
    EXPECT_EQ(mlx().read_ids(ids), want) << "read twice";
  }
}

TEST_F(MlxOps, EmbedIdsIsEmbed) {
  Rng rng(62);
  EXPECT_TRUE(mlx().supports_pipelined_decode());
  const Linear t = affine_table(rng, 50, 128, 4, 64, DType::BF16);
  const Linear td = mlx().load_linear(t);
  Linear dense;
  dense.name = "embed_dense";
  dense.out = 40;
  dense.in = 72;
  dense.weight = param_tensor(DType::F16, normal_vec(rng, 40 * 72), {40, 72});
  const Linear dd = mlx().load_linear(dense);
  for (DType act : {DType::BF16, DType::F32}) {
    set_act(act);
    // Ids as a pass of argmax_rows_async gives them: one-hot logits rows.
    for (const Linear* l : {&td, &dd}) {
      const std::vector<int32_t> ids = {0, static_cast<int32_t>(l->out - 1), 7, 7, 3};
      std::vector<float> onehot(ids.size() * static_cast<size_t>(l->out), 0.0f);
      for (size_t r = 0; r < ids.size(); ++r) onehot[r * static_cast<size_t>(l->out) + static_cast<size_t>(ids[r])] = 1;
      const Tensor dev = mlx().argmax_rows_async(mlx().load_tensor(
          act_tensor(onehot, static_cast<int64_t>(ids.size()), l->out)));
      for (DType compute : {DType::BF16, DType::F32}) {
        const auto got = to_vec(mlx(), mlx().embed_ids(*l, dev, compute));
        const auto ref = to_vec(mlx(), mlx().embed(*l, ids, compute));
        EXPECT_TRUE(close(got, ref, [](size_t) { return 0.0; }, l->name + " " + dt_name(act)));
      }
      EXPECT_EQ(mlx().read_ids(dev), ids);
    }
  }
  // Ids the host never checked are clamped into the table, not read outside it.
  set_act(DType::F32);
  std::vector<float> logits(3 * 60, 0.0f);
  logits[0 * 60 + 55] = logits[1 * 60 + 2] = logits[2 * 60 + 59] = 1.0f;
  const Tensor wide = mlx().argmax_rows_async(mlx().load_tensor(act_tensor(logits, 3, 60)));
  EXPECT_EQ(mlx().read_ids(wide), (std::vector<int32_t>{55, 2, 59}));
  EXPECT_TRUE(close(to_vec(mlx(), mlx().embed_ids(dd, wide, DType::F32)), to_vec(mlx(), mlx().embed(dd, {39, 2, 39}, DType::F32)),
                    [](size_t) { return 0.0; }, "clamped ids"));
  // Anything else is refused with the backend's Error.
  const Tensor floats = mlx().load_tensor(act_tensor(std::vector<float>(3, 1.0f), 1, 3));
  Tensor host_ids;
  host_ids.dtype = DType::I32;
  host_ids.shape = {3};
  std::vector<int32_t> host_vals = {1, 2, 3};
  host_ids.data = host_vals.data();
  EXPECT_EQ(error_subsystem([&] { mlx().embed_ids(dd, floats, DType::F32); }), "mlx");
  EXPECT_EQ(error_subsystem([&] { mlx().embed_ids(dd, host_ids, DType::F32); }), "mlx");
  EXPECT_EQ(error_subsystem([&] { mlx().read_ids(floats); }), "mlx");
  EXPECT_EQ(error_subsystem([&] { mlx().read_ids(host_ids); }), "mlx");
  EXPECT_EQ(error_subsystem([&] { mlx().argmax_rows_async(host_ids); }), "mlx");
  // The CPU backend does not pipeline: the capability says so and the ops refuse.
  EXPECT_FALSE(cpu().supports_pipelined_decode());
  EXPECT_EQ(error_subsystem([&] { cpu().argmax_rows_async(floats); }), "backend");
  EXPECT_EQ(error_subsystem([&] { cpu().read_ids(wide); }), "backend");
  EXPECT_EQ(error_subsystem([&] { cpu().embed_ids(t, wide, DType::F32); }), "backend");
}

// A speculative decode row written and then rewound (set_len back by one, as when the token
// before it ended the sequence) leaves no trace: the row written at that position next attends
// exactly as if the speculative one had never been, on full layers and on sliding-window rings
// (here wrapping several times).
TEST_F(MlxOps, SpeculativeRowRewoundLeavesNoTrace) {
  KvCacheSpec spec;
  const std::vector<AttentionParams> layers = {params(4, 2, 16, 0, 0.0f, 0), params(4, 2, 16, 6, 0.0f, 1)};
  spec.layers = {{2, 16, 0}, {2, 16, 6}};
  spec.dtype = DType::BF16;
  spec.max_seqs = 2;
  spec.max_context = 128;
  spec.max_chunk = 4;
  set_act(DType::BF16);
  auto plain = mlx().create_kv_cache(spec), spec_cache = mlx().create_kv_cache(spec);
  const int a = plain->alloc_seq(), b = spec_cache->alloc_seq();
  Rng rng(63);
  auto rows = [&](int n, int width) { return mlx().load_tensor(act_tensor(round_dt(DType::BF16, normal_vec(rng, static_cast<size_t>(n * width))), n, width)); };
  auto attend = [&](KvCache& c, int slot, int32_t pos0, const Tensor& q, const Tensor& k, const Tensor& v) {
    BatchLayout l;
    l.seqs = {{slot, 0, static_cast<int32_t>(q.dim(0)), pos0}};
    finalize_layout(l);
    std::vector<std::vector<float>> outs;
    for (const AttentionParams& p : layers) outs.push_back(to_vec(mlx(), mlx().attention(q, k, v, c, l, p)));
    c.set_len(slot, pos0 + static_cast<int32_t>(q.dim(0)));
    return outs;
  };
  int32_t len = 0;
  for (int step = 0; step < 30; ++step) {
    const int n = step == 0 ? 3 : 1;
    const Tensor q = rows(n, 64), k = rows(n, 32), v = rows(n, 32);
    const auto want = attend(*plain, a, len, q, k, v);
    const auto got = attend(*spec_cache, b, len, q, k, v);
    for (size_t li = 0; li < layers.size(); ++li)
      EXPECT_EQ(got[li], want[li]) << "step " << step << " layer " << li;
    len += n;
    if (step % 3 == 1) {
      // The speculative row of a token that is then discarded: written, then rewound.
      const Tensor sq = rows(1, 64), sk = rows(1, 32), sv = rows(1, 32);
      attend(*spec_cache, b, len, sq, sk, sv);
      EXPECT_EQ(spec_cache->seq_len(b), len + 1);
      spec_cache->set_len(b, len);
    }
  }
}

// ---- weights, errors ------------------------------------------------------------------------

TEST_F(MlxOps, WeightsStayAliveAndForeignTensorsAreRefused) {
  Rng rng(51);
  Linear l = random_affine(rng, 16, 64, 4, 64, DType::BF16, false);
  const Linear d = mlx().load_linear(l);
  // The array owns (or keeps alive) what it uses: dropping the host tensors changes nothing.
  const std::vector<float> xv = normal_vec(rng, 64);
  const Tensor xd = mlx().load_tensor(act_tensor(xv, 1, 64));
  set_act(DType::F32);
  const auto before = to_vec(mlx(), mlx().linear(xd, d));
  const auto ref = to_vec(cpu(), cpu().linear(act_tensor(xv, 1, 64), l));
  l = Linear{};
  set_act(DType::F32);
  EXPECT_EQ(to_vec(mlx(), mlx().linear(xd, d)), before);
  EXPECT_NE(mlxb::mlx_array_data(d.weight), nullptr);
  EXPECT_TRUE(close(before, ref, [&](size_t i) { return 1e-4 * (1 + std::fabs(ref[i])); }, "after drop"));
  // Host tensors, views of loaded tensors and tensors of other backends are refused.
  const Tensor host = act_tensor(xv, 1, 64);
  EXPECT_THROW(mlx().add(host, host), Error);
  Tensor view = xd;
  view.data = static_cast<uint8_t*>(view.data) + 4;
  EXPECT_THROW(mlx().add(view, xd), Error);
  EXPECT_THROW(mlxb::mlx_array_data(host), Error);
  EXPECT_THROW(mlx().set_activation_dtype(DType::U8), Error);
  EXPECT_THROW(mlx().load_tensor(make_host_tensor(DType::U32, {4})), Error);
}

// The server loads a model on one thread and decodes on another, with one backend per model:
// two backends, weights loaded on this thread, passes run on two other threads at once.
TEST_F(MlxOps, BackendsAcrossThreads) {
  Rng rng(53);
  const Linear host = random_affine(rng, 24, 128, 4, 64, DType::BF16, true);
  const std::vector<float> xv = round_dt(DType::BF16, normal_vec(rng, 5 * 128));
  std::unique_ptr<Backend> a = create_backend("mlx"), b = create_backend("mlx");
  const Linear la = a->load_linear(host), lb = b->load_linear(host);
  const Tensor xa = a->load_tensor(act_tensor(xv, 5, 128)), xb = b->load_tensor(act_tensor(xv, 5, 128));
  std::vector<float> ya, yb;
  auto run = [](Backend& be, const Tensor& x, const Linear& l, std::vector<float>& out) {
    for (int i = 0; i < 20; ++i) {
      be.set_activation_dtype(DType::BF16);
      be.begin_pass();
      be.to_host(be.gated_act(be.linear(x, l), be.linear(x, l), Activation::Silu), out);
    }
  };
  std::thread ta([&] { run(*a, xa, la, ya); });
  std::thread tb([&] { run(*b, xb, lb, yb); });
  ta.join();
  tb.join();
  set_act(DType::BF16);
  const std::vector<float> ref = to_vec(mlx(), mlx().gated_act(mlx().linear(mlx().load_tensor(act_tensor(xv, 5, 128)),
                                                                            mlx().load_linear(host)),
                                                               mlx().linear(mlx().load_tensor(act_tensor(xv, 5, 128)),
                                                                            mlx().load_linear(host)),
                                                               Activation::Silu));
  EXPECT_EQ(ya, ref);
  EXPECT_EQ(yb, ref);
}

// A pass where no row needs logits gathers zero rows; every op must take them (MLX's CPU
// quantized_matmul divides by the row count).
TEST_F(MlxOps, ZeroRows) {
  Rng rng(52);
  set_act(DType::BF16);
  const Linear q = mlx().load_linear(random_affine(rng, 16, 64, 4, 64, DType::BF16, true));
  Linear dense;
  dense.name = "dense";
  dense.out = 16;
  dense.in = 64;
  dense.weight = param_tensor(DType::BF16, normal_vec(rng, 16 * 64), {16, 64});
  const Linear d = mlx().load_linear(dense);
  auto [h, x] = act_pair(normal_vec(rng, 3 * 64), 3, 64);
  const Tensor none = mlx().gather_rows(x, {});
  const Tensor w = mlx().load_tensor(param_tensor(DType::BF16, normal_vec(rng, 64), {64}));
  for (const Linear* l : {&q, &d}) {
    const Tensor y = mlx().softcap(mlx().linear(mlx().rms_norm(none, w, 1e-6f), *l), 30.0f);
    EXPECT_EQ(y.shape, (Shape{0, 16}));
    EXPECT_TRUE(to_vec(mlx(), y).empty());
  }
}

TEST_F(MlxOps, ErrorsAreClear) {
  set_act(DType::F32);
  auto [h, d] = act_pair(std::vector<float>(12, 1.0f), 3, 4);
  EXPECT_THROW(mlx().add(d, mlx().load_tensor(act_tensor(std::vector<float>(8, 1.0f), 2, 4))), Error);
  Linear l;
  l.name = "l";
  l.out = 3;
  l.in = 5;
  l.weight = param_tensor(DType::F32, std::vector<float>(15, 1.0f), {3, 5});
  const Linear ld = mlx().load_linear(l);
  EXPECT_THROW(mlx().linear(d, ld), Error);  // 4 features for a layer of 5
  BatchLayout b;
  b.seqs = {{0, 0, 3, 0}};
  finalize_layout(b);
  RopeSpec odd;
  odd.dims = 3;
  EXPECT_THROW(mlx().rope(d, 1, 4, b, odd), Error);
  EXPECT_EQ(mlx().name(), "mlx");
  EXPECT_NE(compiled_backends().find("mlx (MLX "), std::string::npos) << compiled_backends();
#ifndef __APPLE__
  EXPECT_NE(default_backend_name(), "mlx");  // the default is mlx on macOS only
#endif
  EXPECT_THROW(create_backend("metal"), Error);
  EXPECT_FALSE(mlx().uses_device_memory() && !mlxb::mlx_gpu_default());
}

}  // namespace
}  // namespace ollmlx::test
