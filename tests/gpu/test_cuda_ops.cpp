// Every op of the CUDA backend against the CPU backend (itself checked against double-precision
// references in tests/ops) on random inputs, like llama.cpp's test-backend-ops: both backends
// get the same inputs, the GPU's activation buffers are poisoned with NaN before every op (an
// element an op leaves unwritten fails), and NaN never passes a comparison.
//
// Tolerances (per element; ulp(act, v) = spacing of the activation dtype at |v|; both backends
// round their float32 result to the activation dtype, so two results that differ by d before
// rounding may differ by d + 1 ulp after it):
//  * embed, gather_rows: bit-exact (same arithmetic, no reductions).
//  * add / scale / add_clipped: 1 ulp(act) + 1 ulp(f32); softcap, gated SiLU/GELU: 1 ulp(act) +
//    4e-6 |ref| + 1e-6 (expf/tanhf of CUDA's libm within 2 ulp, Highway's within 4 ulp), and for
//    the gated ops 1e-6 |gate * up| (0.5 g (1 + tanh u) cancels for very negative gates).
//  * rms_norm: 1 ulp(act) on the normalised value and 1 on the product: 3 ulp(act) + 1e-5 |ref|
//    (the mean of squares is summed in another order).
//  * rope: 1 ulp(act) + 2e-6 (|x1| + |x2|) max(1, mscale) (cosf/sinf within 2 ulp each side).
//  * linear: 1 ulp(act) + c * sum_k |x_k w_k| with c = 1e-5 for float32 arithmetic (GEMV path,
//    float32 GEMM: only the summation order differs) and, on the tensor-core GEMM path, the
//    rounding of each dequantized weight to the activation dtype: c = 2^-8 (bf16), 2^-10 (f16).
//  * attention: 1 ulp(act) + 2e-5 max|v| (float32 online softmax in another order; the CPU
//    test's bound is about 1e-5 max|v| against the exact result on these sizes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "sample/sampler.h"
#include "test_util.h"
#include "util/argmax.h"
#include "util/error.h"
#include "util/half.h"

namespace ollmlx::test {
namespace {

std::unique_ptr<Backend>& gpu_backend() {
  static std::unique_ptr<Backend> be = create_backend("cuda");
  return be;
}
std::unique_ptr<Backend>& cpu_backend() {
  static std::unique_ptr<Backend> be = create_backend("cpu", 0);
  return be;
}

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    gpu().set_debug_poison(true);
    cpu().set_debug_poison(true);
  }
  Backend& gpu() { return *gpu_backend(); }
  Backend& cpu() { return *cpu_backend(); }
  void set_act(DType act) {
    gpu().set_activation_dtype(act);
    cpu().set_activation_dtype(act);
    gpu().begin_pass();
    cpu().begin_pass();
  }
  // An F32 activation [rows, cols] on both backends.
  std::pair<Tensor, Tensor> act_pair(const std::vector<float>& v, int64_t rows, int64_t cols) {
    Tensor h = act_tensor(v, rows, cols);
    return {h, gpu().load_tensor(h)};
  }
};

// got (GPU) against ref (CPU) with tol(i); reports the worst relative-to-tolerance element.
::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& ref,
                                 const std::function<double(size_t)>& tol, const std::string& what) {
  std::vector<double> r(ref.begin(), ref.end());
  return all_close(got, r, tol, what);
}

// Element i of a host float tensor (F32/F16/BF16) as float.
float load_param(const Tensor& t, int64_t i) {
  if (t.dtype == DType::F32) return t.ptr<const float>()[i];
  const uint16_t h = t.ptr<const uint16_t>()[i];
  return t.dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

double ulpf(DType act, float a, float b) {
  return ulp(act, std::max(std::fabs(static_cast<double>(a)), std::fabs(static_cast<double>(b))));
}

// ---- linear -----------------------------------------------------------------------------------

uint32_t get_bits(const uint32_t* row, int64_t k, int bits) {
  uint32_t q = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t i = k * bits + b;
    q |= ((row[i / 32] >> (i % 32)) & 1u) << b;
  }
  return q;
}

// Host dequantized weight W[n][k] (double) of a layer with host tensors.
std::vector<double> dequant_host(const Linear& l) {
  std::vector<double> w(static_cast<size_t>(l.out * l.in));
  for (int64_t n = 0; n < l.out; ++n) {
    for (int64_t k = 0; k < l.in; ++k) {
      double v;
      if (l.quantized()) {
        const int bits = l.quant.bits, gs = l.quant.group_size;
        const uint32_t* row = l.weight.ptr<uint32_t>() + n * (l.in * bits / 32);
        const int64_t g = n * (l.in / gs) + k / gs;
        v = double{load_param(l.scales, g)} * get_bits(row, k, bits) + double{load_param(l.biases, g)};
      } else {
        v = load_param(l.weight, n * l.in + k);
      }
      w[static_cast<size_t>(n * l.in + k)] = v;
    }
  }
  return w;
}

// `got` (the GPU's x W^T for x = xv [T, in]) against the CPU backend, within the tolerance of
// the path the GPU took.
void check_linear(Backend& cpu, const Linear& host, DType act, int64_t T,
                  const std::vector<float>& xv, const std::vector<float>& got,
                  const std::string& what) {
  const Tensor xh = act_tensor(xv, T, host.in);
  cpu.set_activation_dtype(act);
  cpu.begin_pass();
  const std::vector<float> ref = to_vec(cpu, cpu.linear(xh, host));
  const std::vector<double> w = dequant_host(host);
  std::vector<double> mag(static_cast<size_t>(T * host.out));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < host.out; ++n) {
      double m = 0;
      for (int64_t k = 0; k < host.in; ++k)
        m += std::fabs(xv[static_cast<size_t>(t * host.in + k)] * w[static_cast<size_t>(n * host.in + k)]);
      if (host.has_bias()) m += std::fabs(load_param(host.bias, n));
      mag[static_cast<size_t>(t * host.out + n)] = m;
    }
  // 4-bit weights with K a multiple of 64 are repacked for the tensor-core GEMV, which serves up
  // to 32 rows without rounding the weights; other quantized weights take the FMA GEMV up to 8.
  const bool tiled4 = host.quantized() && host.quant.mode == QuantMode::Affine && host.quant.bits == 4 &&
                      host.in % 64 == 0;
  const bool gemm_path = !host.quantized() || T > (tiled4 ? 32 : 8);
  const double c = !gemm_path || act == DType::F32 ? 1e-5 : act == DType::BF16 ? 1.0 / 256 : 1.0 / 1024;
  EXPECT_TRUE(close(got, ref,
                    [&](size_t i) { return ulpf(act, got[i], ref[i]) + c * mag[i]; }, what));
}

void run_linear_case(Backend& gpu, Backend& cpu, const Linear& host, DType act, int64_t T, Rng& rng,
                     const std::string& what) {
  const std::vector<float> xv = round_dt(act, normal_vec(rng, static_cast<size_t>(T * host.in)));
  const Tensor xd = gpu.load_tensor(act_tensor(xv, T, host.in));
  const Linear wd = gpu.load_linear(host);
  gpu.set_activation_dtype(act);
  gpu.begin_pass();
  check_linear(cpu, host, act, T, xv, to_vec(gpu, gpu.linear(xd, wd)), what);
}

Linear random_affine(Rng& rng, int64_t N, int64_t K, int bits, int gs, DType sdt, bool with_bias) {
  Linear l = affine_table(rng, N, K, bits, gs, sdt);
  l.name = "proj";
  // affine_table's scales are for embeddings (up to 0.05, biases up to 1): fine for linears too.
  if (with_bias) l.bias = param_tensor(sdt, normal_vec(rng, static_cast<size_t>(N)), {N});
  return l;
}

TEST_F(CudaOps, LinearAffineAllBitsGroupsDtypes) {
  Rng rng(11);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      const DType sdt = gs == 64 ? DType::BF16 : gs == 32 ? DType::F16 : DType::F32;
      // K = 352 (group 32) is not a multiple of 64: 4-bit weights then stay in the MLX layout
      // (FMA GEMV) instead of the tiled tensor-core layout.
      const int64_t K = gs == 128 ? 384 : gs == 32 ? 352 : 256;
      const int64_t N = 77 + bits;
      const Linear l = random_affine(rng, N, K, bits, gs, sdt, bits == 4);
      for (DType act : {DType::BF16, DType::F32, DType::F16}) {
        for (int64_t T : {1, 2, 3, 5, 8, 9, 16, 17, 32, 33}) {
          run_linear_case(gpu(), cpu(), l, act, T, rng,
                          "affine " + std::to_string(bits) + "-bit g" + std::to_string(gs) + " " +
                              dt_name(sdt) + " act " + dt_name(act) + " T=" + std::to_string(T));
        }
      }
    }
  }
}

TEST_F(CudaOps, LinearLargeShapes) {
  Rng rng(12);
  // Shapes of a 1B model's projections (fewer rows to keep the host reference fast).
  for (int bits : {4, 8}) {
    const Linear l = random_affine(rng, 300, 2048, bits, 64, DType::BF16, false);
    for (int64_t T : {1, 4, 24, 130})
      run_linear_case(gpu(), cpu(), l, DType::BF16, T, rng,
                      "large " + std::to_string(bits) + "-bit T=" + std::to_string(T));
  }
  const Linear down = random_affine(rng, 64, 8192, 4, 64, DType::BF16, false);
  run_linear_case(gpu(), cpu(), down, DType::BF16, 1, rng, "down-proj shape 4-bit T=1");
  // The decode GEMV (T <= 8) with groups of 32 and 128 on the tiled layout: several load
  // batches per warp, K split over blocks, a partial last block of 4 tiles, every scale dtype.
  for (int gs : {32, 128}) {
    for (DType sdt : {DType::BF16, DType::F16, DType::F32}) {
      const Linear l = random_affine(rng, 200, gs == 32 ? 1536 : 4096, 4, gs, sdt, gs == 32);
      for (DType act : {DType::BF16, DType::F16})
        for (int64_t T : {1, 3, 8})
          run_linear_case(gpu(), cpu(), l, act, T, rng,
                          "decode gemv g" + std::to_string(gs) + " " + dt_name(sdt) + " act " +
                              dt_name(act) + " T=" + std::to_string(T));
    }
  }
}

// Several matrices sharing x in one call (q/k/v, gate/up): each output as linear() computes it,
// whether the backend runs them as one launch (4-bit tiled, T <= 8) or falls back.
TEST_F(CudaOps, LinearMulti) {
  Rng rng(15);
  for (int bits : {4, 8}) {
    std::vector<Linear> hosts = {random_affine(rng, 512, 1024, bits, 64, DType::BF16, true),
                                 random_affine(rng, 128, 1024, bits, 64, DType::BF16, true),
                                 random_affine(rng, 72, 1024, bits, 64, DType::BF16, false)};
    std::vector<Linear> devs;
    for (const Linear& h : hosts) devs.push_back(gpu().load_linear(h));
    for (DType act : {DType::BF16, DType::F16, DType::F32}) {
      for (int64_t T : {1, 5, 8, 12}) {
        const std::vector<float> xv = round_dt(act, normal_vec(rng, static_cast<size_t>(T * 1024)));
        const Tensor xd = gpu().load_tensor(act_tensor(xv, T, 1024));
        gpu().set_activation_dtype(act);
        gpu().begin_pass();
        const std::vector<Tensor> ys = gpu().linear_multi(xd, {&devs[0], &devs[1], &devs[2]});
        ASSERT_EQ(ys.size(), 3u);
        for (size_t i = 0; i < 3; ++i)
          check_linear(cpu(), hosts[i], act, T, xv, to_vec(gpu(), ys[i]),
                       "linear_multi " + std::to_string(bits) + "-bit matrix " + std::to_string(i) +
                           " act " + dt_name(act) + " T=" + std::to_string(T));
      }
    }
  }
}

// The down projection of the gated activation computed while the GEMV stages its input: bit for
// bit linear(gated_act(gate, up)) (the same activation code and rounding, the same kernel).
TEST_F(CudaOps, LinearGatedEqualsSeparateOps) {
  Rng rng(17);
  for (int bits : {4, 8}) {
    const Linear host = random_affine(rng, 320, 1536, bits, 64, DType::BF16, false);
    const Linear w = gpu().load_linear(host);
    for (Activation a : {Activation::Silu, Activation::GeluTanh}) {
      for (DType act : {DType::BF16, DType::F16, DType::F32}) {
        for (int64_t T : {1, 4, 8, 11}) {
          const auto n = static_cast<size_t>(T * 1536);
          const Tensor g = gpu().load_tensor(act_tensor(round_dt(act, normal_vec(rng, n)), T, 1536));
          const Tensor up = gpu().load_tensor(act_tensor(round_dt(act, normal_vec(rng, n)), T, 1536));
          gpu().set_activation_dtype(act);
          gpu().begin_pass();
          const std::vector<float> fused = to_vec(gpu(), gpu().linear_gated(g, up, a, w));
          const std::vector<float> separate = to_vec(gpu(), gpu().linear(gpu().gated_act(g, up, a), w));
          EXPECT_EQ(fused, separate) << bits << "-bit " << (a == Activation::Silu ? "silu" : "gelu")
                                     << " act " << dt_name(act) << " T=" << T;
        }
      }
    }
  }
}

// The residual add fused with the norm after it: both outputs exactly the separate ops' (the
// same float32 arithmetic and rounding), for both kernel shapes (warp rows, block rows).
TEST_F(CudaOps, AddRmsNormEqualsSeparateOps) {
  Rng rng(16);
  for (int64_t dim : {576, 2048, 10000}) {
    for (DType act : {DType::BF16, DType::F32}) {
      const int64_t T = 3;
      const std::vector<float> av = round_dt(act, normal_vec(rng, static_cast<size_t>(T * dim)));
      const std::vector<float> bv = round_dt(act, normal_vec(rng, static_cast<size_t>(T * dim)));
      const Tensor wh = param_tensor(DType::BF16, normal_vec(rng, static_cast<size_t>(dim)), {dim});
      const Tensor a = gpu().load_tensor(act_tensor(av, T, dim));
      const Tensor b = gpu().load_tensor(act_tensor(bv, T, dim));
      const Tensor w = gpu().load_tensor(wh);
      gpu().set_activation_dtype(act);
      gpu().begin_pass();
      const Backend::SumAndNorm fused = gpu().add_rms_norm(a, b, w, 1e-5f);
      const Tensor sum = gpu().add(a, b);
      const Tensor norm = gpu().rms_norm(sum, w, 1e-5f);
      const std::string what = "dim " + std::to_string(dim) + " act " + dt_name(act);
      EXPECT_EQ(to_vec(gpu(), fused.sum), to_vec(gpu(), sum)) << what;
      EXPECT_EQ(to_vec(gpu(), fused.norm), to_vec(gpu(), norm)) << what;
    }
  }
}

// The device argmax against the host one (util/argmax.h) on rows with ties, NaN, +-inf, rows
// with nothing above -inf and all-NaN rows, at vocabulary sizes around the block width.
TEST_F(CudaOps, ArgmaxRowsEqualsHost) {
  Rng rng(17);
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t vocab : {1, 31, 512, 513, 49152, 128256}) {
    const int64_t rows = 9;
    std::vector<float> v = normal_vec(rng, static_cast<size_t>(rows * vocab));
    for (int64_t r = 0; r < rows; ++r) {
      float* row = v.data() + r * vocab;
      for (int64_t i = 0; i < vocab; ++i) {
        switch (r) {
          case 1: row[i] = std::round(row[i]); break;                    // many ties
          case 2: if (i % 3 == 0) row[i] = NAN; break;
          case 3: if (i % 1000 == 7) row[i] = inf; break;                // several +inf
          case 4: row[i] = i % 2 ? -inf : NAN; break;                    // nothing above -inf
          case 5: row[i] = NAN; break;                                   // all NaN
          case 6: row[i] = i == vocab - 1 ? 1.0f : -inf; break;          // the last one
          default: break;
        }
      }
    }
    const Tensor x = gpu().load_tensor(act_tensor(v, rows, vocab));
    const std::vector<int32_t> got = gpu().argmax_rows(x);
    ASSERT_EQ(got.size(), static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_EQ(got[static_cast<size_t>(r)], argmax_f32(v.data() + r * vocab, vocab))
          << "vocab " << vocab << " row " << r;
  }
}

// Backend::sample_rows against Sampler::sample (sample/sampler.cpp) on the same logits with the
// same seeds: each parameter set (both filter orders, temperature, top_k/top_p/min_p, penalties,
// greedy with penalties) over vocabularies up to Llama-3's, rows with ties, -inf and +-0 values,
// several steps per sampler (the generators advance alike). The device sums in another order
// than the host, so a draw could differ where u01 * total is within ~1e-16 of a boundary: no
// such case is expected among these draws.
TEST_F(CudaOps, SampleRowsEqualsHost) {
  ASSERT_TRUE(gpu().supports_sampling());
  Rng rng(23);
  const float inf = std::numeric_limits<float>::infinity();
  struct Cfg {
    bool mlx;
    float temp;
    int top_k;
    float top_p, min_p, rep, presence, frequency;
  };
  const std::vector<Cfg> cfgs = {
      {true, 1.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f},      // plain draw over everything
      {true, 0.7f, 0, 0.9f, 0.0f, 1.0f, 0.0f, 0.0f},      // top_p
      {true, 1.3f, 20, 1.0f, 0.05f, 1.0f, 0.0f, 0.0f},    // top_k + min_p
      {true, 0.5f, 40, 0.8f, 0.1f, 1.1f, 0.5f, 0.25f},    // everything, penalties
      {false, 0.8f, 40, 0.9f, 0.0f, 1.0f, 0.0f, 0.0f},    // Ollama's defaults
      {false, 1.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f},     // Ollama order, no filter
      {false, 0.6f, 0, 0.95f, 0.05f, 1.2f, 0.3f, 0.1f},   // top_p + min_p + penalties
      {false, 2.0f, 5, 0.5f, 0.0f, 1.0f, 0.0f, 0.0f},
      {true, 0.0f, 0, 1.0f, 0.0f, 1.3f, 0.2f, 0.6f},      // greedy after penalties
  };
  for (int64_t vocab : {7, 1000, 128256}) {
    // 9 rows: parameter sets whose rows all have a top_k (or are greedy) take the per-row
    // selection path (from 8 rows), the others the sort.
    const int64_t rows = 9;
    for (size_t ci = 0; ci < cfgs.size(); ++ci) {
      const Cfg& c = cfgs[ci];
      std::vector<Sampler> host, dev;
      for (int64_t r = 0; r < rows; ++r) {
        SamplerParams sp;
        sp.mlx_order = c.mlx;
        sp.temperature = c.temp;
        sp.top_k = c.top_k;
        sp.top_p = c.top_p;
        sp.min_p = c.min_p;
        sp.repeat_penalty = c.rep;
        sp.presence_penalty = c.presence;
        sp.frequency_penalty = c.frequency;
        sp.seed = 1000 * ci + static_cast<uint64_t>(r);
        host.emplace_back(sp);
        dev.emplace_back(sp);
      }
      for (int step = 0; step < 3; ++step) {
        std::vector<float> v = normal_vec(rng, static_cast<size_t>(rows * vocab), 2.0f);
        for (int64_t r = 0; r < rows; ++r) {
          float* row = v.data() + r * vocab;
          for (int64_t i = 0; i < vocab; ++i) {
            if (r == 1) row[i] = std::round(row[i]);                      // many ties
            if (r == 2 && i % 5 == 1) row[i] = -inf;                      // masked tokens
            if (r == 3 && i % 7 == 2) row[i] = (i % 2 ? -0.0f : 0.0f);    // signed zeros
            if (r == 4) row[i] *= 8.0f;                                   // a peaked distribution
          }
        }
        std::vector<int32_t> history;
        for (int i = 0; i < 90; ++i)
          history.push_back(static_cast<int32_t>(rng.integer(0, vocab - 1)));
        std::vector<RowSampling> req;
        std::vector<int32_t> want;
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<float> row(v.begin() + r * vocab, v.begin() + (r + 1) * vocab);
          want.push_back(host[static_cast<size_t>(r)].sample(row.data(), vocab, history));
          req.push_back(dev[static_cast<size_t>(r)].backend_request(history));
        }
        const Tensor x = gpu().load_tensor(act_tensor(v, rows, vocab));
        EXPECT_EQ(gpu().sample_rows(x, req), want) << "vocab " << vocab << " config " << ci << " step " << step;
      }
    }
  }
  // Bad requests are errors, not crashes.
  const Tensor x = gpu().load_tensor(act_tensor(std::vector<float>(20, 1.0f), 2, 10));
  EXPECT_THROW(gpu().sample_rows(x, std::vector<RowSampling>(3)), Error);
  RowSampling odd;
  odd.counts = {{-5, 2}, {10, 1}, {3, 1 << 20}};  // ids outside the vocabulary are skipped
  odd.repeat_penalty = 1.5f;
  EXPECT_EQ(gpu().sample_rows(x, {odd, odd}).size(), 2u);
}

TEST_F(CudaOps, LinearDense) {
  Rng rng(13);
  for (auto [wdt, act] : std::vector<std::pair<DType, DType>>{{DType::BF16, DType::BF16},
                                                              {DType::F16, DType::F16},
                                                              {DType::F32, DType::F32},
                                                              {DType::BF16, DType::F32}}) {
    Linear l;
    l.name = "dense";
    l.out = 70;
    l.in = 96;
    l.weight = param_tensor(wdt, normal_vec(rng, 70 * 96, 0.1f), {70, 96});
    l.bias = param_tensor(wdt, normal_vec(rng, 70), {70});
    for (int64_t T : {1, 7, 40})
      run_linear_case(gpu(), cpu(), l, act, T, rng,
                      std::string("dense ") + dt_name(wdt) + " act " + dt_name(act) + " T=" + std::to_string(T));
  }
}

// ---- embed, gather ------------------------------------------------------------------------

TEST_F(CudaOps, EmbedExact) {
  Rng rng(21);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (DType sdt : {DType::BF16, DType::F16, DType::F32}) {
      const Linear t = affine_table(rng, 50, 128, bits, bits == 3 ? 32 : 64, sdt);
      const Linear td = gpu().load_linear(t);
      std::vector<int32_t> ids;
      for (int i = 0; i < 9; ++i) ids.push_back(static_cast<int32_t>(rng.integer(0, 49)));
      for (DType compute : {sdt, DType::F32}) {
        for (DType act : {DType::BF16, DType::F32}) {
          set_act(act);
          const auto got = to_vec(gpu(), gpu().embed(td, ids, compute));
          const auto ref = to_vec(cpu(), cpu().embed(t, ids, compute));
          EXPECT_TRUE(close(got, ref, [](size_t) { return 0.0; },
                            "embed " + std::to_string(bits) + "-bit " + dt_name(sdt) + " compute " +
                                dt_name(compute) + " act " + dt_name(act)));
        }
      }
    }
  }
  Linear dense;
  dense.name = "embed_dense";
  dense.out = 40;
  dense.in = 72;
  dense.weight = param_tensor(DType::BF16, normal_vec(rng, 40 * 72), {40, 72});
  const Linear dd = gpu().load_linear(dense);
  set_act(DType::F16);
  const std::vector<int32_t> ids = {0, 39, 5, 5};
  EXPECT_TRUE(close(to_vec(gpu(), gpu().embed(dd, ids, DType::BF16)),
                    to_vec(cpu(), cpu().embed(dense, ids, DType::BF16)), [](size_t) { return 0.0; },
                    "embed dense"));
  EXPECT_THROW(gpu().embed(dd, {40}, DType::BF16), Error);
}

TEST_F(CudaOps, GatherRowsExact) {
  Rng rng(22);
  set_act(DType::F32);
  const auto v = normal_vec(rng, 13 * 50);
  auto [h, d] = act_pair(v, 13, 50);
  const std::vector<int32_t> rows = {12, 0, 5, 5, 7};
  EXPECT_TRUE(close(to_vec(gpu(), gpu().gather_rows(d, rows)), to_vec(cpu(), cpu().gather_rows(h, rows)),
                    [](size_t) { return 0.0; }, "gather_rows"));
  EXPECT_THROW(gpu().gather_rows(d, {13}), Error);
}

// ---- norms and elementwise ------------------------------------------------------------------

TEST_F(CudaOps, RmsNorm) {
  Rng rng(31);
  for (DType act : {DType::BF16, DType::F32, DType::F16}) {
    for (int64_t dim : {64, 576, 2048, 3000}) {
      for (DType wdt : {DType::BF16, DType::F32}) {
        set_act(act);
        const int64_t rows = 7;
        const auto xv = round_dt(act, normal_vec(rng, static_cast<size_t>(rows * dim), 3.0f));
        auto [xh, xd] = act_pair(xv, rows, dim);
        const Tensor wh = param_tensor(wdt, normal_vec(rng, static_cast<size_t>(dim)), {dim});
        const Tensor wd = gpu().load_tensor(wh);
        const auto got = to_vec(gpu(), gpu().rms_norm(xd, wd, 1e-5f));
        const auto ref = to_vec(cpu(), cpu().rms_norm(xh, wh, 1e-5f));
        EXPECT_TRUE(close(got, ref,
                          [&](size_t i) { return 3 * ulpf(act, got[i], ref[i]) + 1e-5 * std::fabs(ref[i]); },
                          std::string("rms_norm ") + dt_name(act) + " dim " + std::to_string(dim)));
      }
    }
    // Per-head norms (qwen3/gemma3).
    const auto xv = round_dt(act, normal_vec(rng, 5 * 8 * 128));
    auto [xh, xd] = act_pair(xv, 5, 8 * 128);
    const Tensor wh = param_tensor(DType::BF16, normal_vec(rng, 128), {128});
    const Tensor wd = gpu().load_tensor(wh);
    const auto got = to_vec(gpu(), gpu().rms_norm_heads(xd, wd, 1e-6f, 128));
    const auto ref = to_vec(cpu(), cpu().rms_norm_heads(xh, wh, 1e-6f, 128));
    EXPECT_TRUE(close(got, ref, [&](size_t i) { return 3 * ulpf(act, got[i], ref[i]) + 1e-5 * std::fabs(ref[i]); },
                      std::string("rms_norm_heads ") + dt_name(act)));
  }
}

TEST_F(CudaOps, Elementwise) {
  Rng rng(32);
  for (DType act : {DType::BF16, DType::F32, DType::F16}) {
    set_act(act);
    const int64_t rows = 9, cols = 1000;
    auto av = round_dt(act, normal_vec(rng, rows * cols, 4.0f));
    auto bv = round_dt(act, normal_vec(rng, rows * cols, 4.0f));
    // Extremes: large magnitudes must not overflow intermediates.
    av[0] = 80.0f; av[1] = -80.0f; av[2] = 1e4f; av[3] = -1e4f; av[4] = 0.0f;
    auto [ah, ad] = act_pair(av, rows, cols);
    auto [bh, bd] = act_pair(bv, rows, cols);
    const std::string n = dt_name(act);
    auto exactish = [&](const std::vector<float>& g, const std::vector<float>& r) {
      return [&g, &r, act](size_t i) { return ulpf(act, g[i], r[i]) + ulp(DType::F32, r[i]); };
    };
    auto transc = [&](const std::vector<float>& g, const std::vector<float>& r) {
      return [&g, &r, act](size_t i) { return ulpf(act, g[i], r[i]) + 4e-6 * std::fabs(r[i]) + 1e-6; };
    };
    {
      const auto g = to_vec(gpu(), gpu().add(ad, bd)), r = to_vec(cpu(), cpu().add(ah, bh));
      EXPECT_TRUE(close(g, r, exactish(g, r), "add " + n));
    }
    {
      const auto g = to_vec(gpu(), gpu().scale(ad, 0.37f)), r = to_vec(cpu(), cpu().scale(ah, 0.37f));
      EXPECT_TRUE(close(g, r, exactish(g, r), "scale " + n));
    }
    {
      const auto g = to_vec(gpu(), gpu().softcap(ad, 30.0f)), r = to_vec(cpu(), cpu().softcap(ah, 30.0f));
      EXPECT_TRUE(close(g, r, transc(g, r), "softcap " + n));
    }
    for (Activation a : {Activation::Silu, Activation::GeluTanh}) {
      const auto g = to_vec(gpu(), gpu().gated_act(ad, bd, a));
      const auto r = to_vec(cpu(), cpu().gated_act(ah, bh, a));
      // 1 + tanh(u) cancels for very negative gates: a few ulps of 1 times 0.5 |gate * up|.
      EXPECT_TRUE(close(g, r,
                        [&](size_t i) {
                          return transc(g, r)(i) + 1e-6 * std::fabs(double{av[i]} * bv[i]);
                        },
                        std::string(a == Activation::Silu ? "silu " : "gelu ") + n));
    }
    {
      const auto g = to_vec(gpu(), gpu().add_clipped(ad, bd, 5.0f));
      const auto r = to_vec(cpu(), cpu().add_clipped(ah, bh, 5.0f));
      EXPECT_TRUE(close(g, r, exactish(g, r), "add_clipped " + n));
    }
  }
}

// ---- rope -------------------------------------------------------------------------------------

TEST_F(CudaOps, RopeAllVariants) {
  Rng rng(41);
  struct V {
    std::string name;
    RopeSpec s;
    int head_dim;
  };
  std::vector<V> vs;
  RopeSpec s;
  s.dims = 64;
  s.inv_freq = rope_inv_freq(10000.0f, 64);
  vs.push_back({"default", s, 64});
  RopeSpec lin = s;
  lin.position_scale = 0.25f;
  vs.push_back({"linear", lin, 64});
  RopeSpec big = s;
  big.inv_freq = rope_inv_freq(500000.0f, 64);
  vs.push_back({"base 5e5", big, 64});
  RopeSpec dyn = s;
  dyn.dynamic = true;
  dyn.base = 10000.0f;
  dyn.dynamic_factor = 2.0f;
  dyn.max_position = 64;
  vs.push_back({"dynamic", dyn, 64});
  RopeSpec ms = s;
  ms.mscale = 1.2231f;
  vs.push_back({"mscale", ms, 64});
  RopeSpec trad = s;
  trad.traditional = true;
  vs.push_back({"traditional", trad, 64});
  RopeSpec part;
  part.dims = 96;
  part.inv_freq = rope_inv_freq(10000.0f, 96);
  vs.push_back({"partial 96/128", part, 128});
  RopeSpec pt = part;
  pt.traditional = true;
  pt.mscale = 0.9f;
  vs.push_back({"partial traditional mscale", pt, 128});
  // Several sequences per pass, prefill chunks and decode rows at large positions.
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
      const auto g = to_vec(gpu(), gpu().rope(xd, H, v.head_dim, b, v.s));
      const auto r = to_vec(cpu(), cpu().rope(xh, H, v.head_dim, b, v.s));
      const double m = std::max(1.0f, v.s.mscale);
      EXPECT_TRUE(close(g, r,
                        [&](size_t i) {
                          // |x1| + |x2| <= 2 max |x| of the row.
                          const size_t row = i / static_cast<size_t>(W);
                          double mx = 0;
                          for (int64_t j = 0; j < W; ++j)
                            mx = std::max(mx, double{std::fabs(xv[row * static_cast<size_t>(W) + static_cast<size_t>(j)])});
                          return ulpf(act, g[i], r[i]) + 4e-6 * mx * m;
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

// Drives a CPU and a GPU cache through the same passes and compares every layer's output.
// The q8_0 cache's rounding of k or v [T, kvh * hd] (k_attention.cu kv_append_q8_kernel): per
// block of 32 values of one head's row, d = max|x| / 127, q = nearest-even(x / d), x' = d * q.
std::vector<float> q8_roundtrip(std::vector<float> x, int64_t T, int kvh, int hd) {
  for (int64_t t = 0; t < T; ++t)
    for (int h = 0; h < kvh; ++h)
      for (int b0 = 0; b0 < hd; b0 += 32) {
        float* row = x.data() + (t * kvh + h) * hd;
        const int b1 = std::min(hd, b0 + 32);
        float amax = 0.0f;
        for (int d = b0; d < b1; ++d) amax = std::max(amax, std::fabs(row[d]));
        const float s = amax / 127.0f;
        for (int d = b0; d < b1; ++d) {
          const float q = s > 0.0f ? std::clamp(std::nearbyint(row[d] / s), -127.0f, 127.0f) : 0.0f;
          row[d] = s * q;
        }
      }
  return x;
}

// The same attention passes on the GPU and the CPU backend. q8: the GPU's cache is q8_0 and the
// CPU's float32, fed with the q8_0-rounded keys and values, so only summation order differs.
class AttnPair {
 public:
  AttnPair(Backend& gpu, Backend& cpu, std::vector<AttentionParams> layers, DType act, DType cdt,
           int max_seqs, int max_context, int max_chunk, uint64_t seed, bool q8 = false)
      : gpu_(gpu), cpu_(cpu), layers_(std::move(layers)), act_(act), rng_(seed), q8_(q8) {
    KvCacheSpec spec;
    for (const AttentionParams& p : layers_) spec.layers.push_back({p.n_kv_heads, p.head_dim, p.window});
    spec.dtype = q8 ? DType::F32 : cdt;
    spec.max_seqs = max_seqs;
    spec.max_context = max_context;
    spec.max_chunk = max_chunk;
    cc_ = cpu.create_kv_cache(spec);
    spec.q8_0 = q8;
    gc_ = gpu.create_kv_cache(spec);
    for (int s = 0; s < max_seqs; ++s) {
      gc_->alloc_seq();
      cc_->alloc_seq();
    }
  }
  int32_t len(int slot) const { return cc_->seq_len(slot); }

  void pass(const std::vector<Pass>& passes, const std::string& what) {
    BatchLayout b;
    int32_t begin = 0;
    for (const Pass& p : passes) {
      b.seqs.push_back({p.slot, begin, p.count, p.pos0});
      begin += p.count;
    }
    finalize_layout(b);
    const int64_t T = b.rows();
    for (Backend* be : {&gpu_, &cpu_}) {
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
      const auto g = to_vec(gpu_, gpu_.attention(gpu_.load_tensor(qh), gpu_.load_tensor(kh),
                                                 gpu_.load_tensor(vh), *gc_, b, p));
      const auto r = q8_ ? to_vec(cpu_, cpu_.attention(qh, act_tensor(q8_roundtrip(k, T, p.n_kv_heads, p.head_dim), T, kw),
                                                       act_tensor(q8_roundtrip(v, T, p.n_kv_heads, p.head_dim), T, kw),
                                                       *cc_, b, p))
                         : to_vec(cpu_, cpu_.attention(qh, kh, vh, *cc_, b, p));
      double vmax = 0;
      for (float x : v) vmax = std::max(vmax, double{std::fabs(x)});
      vmax = std::max(vmax, vmax_);
      vmax_ = vmax;
      EXPECT_TRUE(close(g, r, [&](size_t i) { return ulpf(act_, g[i], r[i]) + 2e-5 * vmax; },
                        what + " layer " + std::to_string(li)));
    }
    for (const Pass& p : passes) {
      gc_->set_len(p.slot, p.pos0 + p.count);
      cc_->set_len(p.slot, p.pos0 + p.count);
    }
  }

 private:
  Backend& gpu_;
  Backend& cpu_;
  std::vector<AttentionParams> layers_;
  DType act_;
  Rng rng_;
  double vmax_ = 0;
  bool q8_ = false;
  std::unique_ptr<KvCache> gc_, cc_;
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

TEST_F(CudaOps, AttentionShapesMasksDtypes) {
  const std::vector<std::tuple<int, int, int>> shapes = {
      {1, 1, 32}, {4, 2, 64}, {9, 3, 64}, {8, 1, 128}, {4, 4, 80}, {2, 1, 256}, {16, 2, 256},
      {3, 3, 4}, {32, 8, 64}, {28, 4, 128}};
  const std::vector<std::pair<DType, DType>> dts = {
      {DType::F32, DType::F32}, {DType::BF16, DType::BF16}, {DType::F16, DType::F16}, {DType::F32, DType::BF16}};
  uint64_t seed = 100;
  for (auto [h, kvh, hd] : shapes) {
    for (int window : {0, 5, 64}) {
      for (float softcap : {0.0f, 30.0f}) {
        for (auto [act, cdt] : dts) {
          if (softcap > 0 && act != DType::F32) continue;
          const AttentionParams p = params(h, kvh, hd, window, softcap);
          AttnPair ap(gpu(), cpu(), {p}, act, cdt, 1, 512, 80, seed++);
          const std::string what = std::to_string(h) + "/" + std::to_string(kvh) + "x" + std::to_string(hd) +
                                   " w" + std::to_string(window) + " cap" + std::to_string(int(softcap)) +
                                   " " + dt_name(act) + "/" + dt_name(cdt);
          ap.pass({{0, 0, 70}}, what + " prefill");
          ap.pass({{0, 70, 1}}, what + " decode");
          ap.pass({{0, 71, 3}}, what + " small chunk");
          ap.pass({{0, 74, 1}}, what + " decode");
        }
      }
    }
  }
}

// The 8-bit (q8_0) KV cache: head sizes with whole and partial blocks of 32, GQA, windows (rings
// wrapping), prefill, decode and long split decodes, against the CPU on the same rounded values;
// its storage is 36 bytes per 32 values; NaN inputs reach the output.
TEST_F(CudaOps, AttentionQ8Cache) {
  uint64_t seed = 900;
  for (auto [h, kvh, hd] : std::vector<std::tuple<int, int, int>>{{4, 2, 64}, {8, 1, 128}, {3, 3, 4}, {4, 4, 80}, {2, 1, 256}}) {
    for (int window : {0, 5}) {
      for (DType act : {DType::F32, DType::BF16}) {
        AttnPair ap(gpu(), cpu(), {params(h, kvh, hd, window)}, act, act, 1, 512, 80, seed++, true);
        const std::string what = "q8 " + std::to_string(h) + "/" + std::to_string(kvh) + "x" + std::to_string(hd) +
                                 " w" + std::to_string(window) + " " + dt_name(act);
        ap.pass({{0, 0, 70}}, what + " prefill");
        ap.pass({{0, 70, 1}}, what + " decode");
        ap.pass({{0, 71, 3}}, what + " small chunk");
        for (int i = 0; i < 40; ++i) ap.pass({{0, 74 + i, 1}}, what + " decode " + std::to_string(i));
      }
    }
  }
  // A long context split over several blocks per row (Llama-3.2-1B's heads).
  AttnPair ap(gpu(), cpu(), {params(32, 8, 64)}, DType::BF16, DType::BF16, 2, 4096, 512, 77, true);
  ap.pass({{0, 0, 512}, {1, 0, 300}}, "q8 long prefill");
  ap.pass({{0, 512, 512}}, "q8 long chunk");
  ap.pass({{0, 1024, 1}, {1, 300, 1}}, "q8 long decode");
  KvCacheSpec spec;
  spec.layers.push_back({2, 128, 0});
  spec.dtype = DType::BF16;
  spec.q8_0 = true;
  auto cache = gpu().create_kv_cache(spec);
  const int slot = cache->alloc_seq();
  BatchLayout b;
  b.seqs.push_back({slot, 0, 3, 0});
  finalize_layout(b);
  gpu().set_activation_dtype(DType::F32);
  gpu().begin_pass();
  std::vector<float> k(3 * 256, 0.5f);
  k[300] = NAN;  // row 1, head 0, block 1
  const AttentionParams p = params(2, 2, 128);
  const auto q = gpu().load_tensor(act_tensor(std::vector<float>(3 * 256, 0.1f), 3, 256));
  const auto out = to_vec(gpu(), gpu().attention(q, gpu().load_tensor(act_tensor(k, 3, 256)),
                                                 gpu().load_tensor(act_tensor(std::vector<float>(3 * 256, 1.0f), 3, 256)),
                                                 *cache, b, p));
  EXPECT_FALSE(std::isnan(out[0])) << "row 0 attends to row 0 only";
  EXPECT_TRUE(std::isnan(out[256])) << "row 1 sees the NaN key";
  EXPECT_EQ(cache->bytes(), 2u * 256 * 2 * (128 / 32) * 36);  // k and v, 256 rows, 2 heads
}

// Long contexts: split-KV decoding (several blocks per query row, combined) and prefill chunks
// far into the cache, with GQA as in Llama-3.2-1B and Qwen-2.5-7B.
TEST_F(CudaOps, AttentionLongContextSplits) {
  uint64_t seed = 300;
  for (auto [h, kvh, hd] : std::vector<std::tuple<int, int, int>>{{32, 8, 64}, {28, 4, 128}}) {
    for (DType cdt : {DType::BF16, DType::F32}) {
      AttnPair ap(gpu(), cpu(), {params(h, kvh, hd)}, DType::BF16, cdt, 2, 4096, 512, seed++);
      for (int32_t pos = 0; pos < 2000; pos += 500) ap.pass({{0, pos, 500}}, "long prefill");
      for (int i = 0; i < 3; ++i) ap.pass({{0, ap.len(0), 1}}, "long decode");
      ap.pass({{1, 0, 300}, {0, ap.len(0), 1}}, "prefill + long decode");
      ap.pass({{0, ap.len(0), 2}, {1, 300, 1}}, "two decodes");
    }
  }
}

TEST_F(CudaOps, AttentionMixedBatchesRingRewind) {
  uint64_t seed = 42;
  for (bool ring : {false, true}) {
    for (auto [act, cdt] : std::vector<std::pair<DType, DType>>{{DType::F32, DType::F32}, {DType::BF16, DType::BF16}}) {
      std::vector<AttentionParams> layers = {params(6, 2, 64, 0, 0.0f, 0)};
      if (ring) layers.push_back(params(6, 2, 64, 24, 0.0f, 1));
      const int max_chunk = 16;
      AttnPair ap(gpu(), cpu(), layers, act, cdt, 4, 1024, max_chunk, seed++);
      Rng rng(seed++);
      std::vector<int32_t> furthest(4, 0);
      for (int step = 0; step < 40; ++step) {
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

TEST_F(CudaOps, AttentionSlidingWindowLongDecode) {
  AttnPair ap(gpu(), cpu(), {params(4, 1, 32, 16)}, DType::F32, DType::BF16, 1, 4096, 4, 77);
  ap.pass({{0, 0, 4}}, "ring prefill");
  ap.pass({{0, 4, 3}}, "ring chunk");
  for (int step = 0; step < 100; ++step) ap.pass({{0, ap.len(0), 1}}, "ring decode " + std::to_string(step));
}

TEST_F(CudaOps, ErrorsAreClear) {
  set_act(DType::F32);
  auto [h, d] = act_pair(std::vector<float>(12, 1.0f), 3, 4);
  EXPECT_THROW(gpu().add(d, gpu().load_tensor(act_tensor(std::vector<float>(8, 1.0f), 2, 4))), Error);
  KvCacheSpec spec;
  spec.layers = {{1, 320, 0}};
  spec.max_context = 16;
  auto cache = gpu().create_kv_cache(spec);
  cache->alloc_seq();
  BatchLayout b;
  b.seqs = {{0, 0, 1, 0}};
  finalize_layout(b);
  const Tensor q = gpu().load_tensor(act_tensor(std::vector<float>(320, 1.0f), 1, 320));
  EXPECT_THROW(gpu().attention(q, q, q, *cache, b, params(1, 1, 320)), Error);  // head_dim > 256
}

}  // namespace
}  // namespace ollmlx::test
