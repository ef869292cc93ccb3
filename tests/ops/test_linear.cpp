// The CPU linear op (backend/cpu/linear.cpp) against a double-precision scalar reference, for
// dense F32/F16/BF16 weights and affine weights of every bit width, group size and scale dtype,
// over token counts that exercise the decode (fused) and prefill (tiled) paths, ragged sizes and
// biases. Also: a row's result is bit-identical whatever batch it is computed in.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "test_util.h"

namespace ollmlx::test {
namespace {

// W[n][k] as double: dense value or scale*q + bias.
double weight_at(const Linear& l, int64_t n, int64_t k) {
  auto fl = [](const Tensor& t, int64_t i) -> double {
    if (t.dtype == DType::F32) return t.ptr<const float>()[i];
    if (t.dtype == DType::BF16) return bf16_to_f32(t.ptr<const uint16_t>()[i]);
    return f16_to_f32(t.ptr<const uint16_t>()[i]);
  };
  if (!l.quantized()) return fl(l.weight, n * l.in + k);
  const int bits = l.quant.bits;
  const uint32_t* row = l.weight.ptr<const uint32_t>() + n * (l.in * bits / 32);
  uint32_t q = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t i = k * bits + b;
    q |= ((row[i / 32] >> (i % 32)) & 1u) << b;
  }
  const int64_t g = n * (l.in / l.quant.group_size) + k / l.quant.group_size;
  return fl(l.scales, g) * q + fl(l.biases, g);
}

struct Case {
  int bits;  // 0 = dense
  int group;
  DType dtype;
  int64_t N, K;
};

Linear make_linear(Rng& rng, const Case& c, bool with_bias) {
  Linear l;
  if (c.bits == 0) {
    l.name = "dense";
    l.out = c.N;
    l.in = c.K;
    l.weight = param_tensor(c.dtype, normal_vec(rng, static_cast<size_t>(c.N * c.K), 0.1f), {c.N, c.K});
  } else {
    l = affine_table(rng, c.N, c.K, c.bits, c.group, c.dtype);
    l.name = "affine";
  }
  if (with_bias) l.bias = param_tensor(c.dtype, normal_vec(rng, static_cast<size_t>(c.N)), {c.N});
  validate_linear(l);
  return l;
}

class LinearTest : public ::testing::TestWithParam<Case> {};

TEST_P(LinearTest, MatchesReferenceForEveryTokenCount) {
  const Case c = GetParam();
  cpu::CpuBackend be(2);
  Rng rng(static_cast<uint64_t>(c.bits * 1000 + c.group + c.N + c.K));
  for (bool bias : {false, true}) {
    const Linear l = make_linear(rng, c, bias);
    for (int64_t T : {1, 2, 3, 4, 5, 7, 16}) {
      const std::vector<float> x = normal_vec(rng, static_cast<size_t>(T * c.K));
      poison_arena(be);
      std::vector<float> y = to_vec(be, be.linear(act_tensor(x, T, c.K), l));
      std::vector<double> ref(static_cast<size_t>(T * c.N)), mag(ref.size());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = 0; n < c.N; ++n) {
          double s = 0, m = 0;
          for (int64_t k = 0; k < c.K; ++k) {
            const double p = x[static_cast<size_t>(t * c.K + k)] * weight_at(l, n, k);
            s += p;
            m += std::fabs(p);
          }
          if (bias) {
            const double b = c.dtype == DType::F32 ? l.bias.ptr<const float>()[n]
                             : c.dtype == DType::BF16 ? bf16_to_f32(l.bias.ptr<const uint16_t>()[n])
                                                      : f16_to_f32(l.bias.ptr<const uint16_t>()[n]);
            s += b;
            m += std::fabs(b);
          }
          ref[static_cast<size_t>(t * c.N + n)] = s;
          mag[static_cast<size_t>(t * c.N + n)] = m;
        }
      // float32 accumulation of K products (and per-group regrouping): error grows at most
      // like K * 2^-24 * sum|x*w|; 4x margin for the two-level (group, lane) summation.
      const double eps = 4.0 * static_cast<double>(c.K) * std::ldexp(1.0, -24);
      EXPECT_TRUE(all_close(y, ref, [&](size_t i) { return eps * mag[i] + 1e-30; },
                            "linear T=" + std::to_string(T)));
    }
  }
}

TEST_P(LinearTest, RowResultDoesNotDependOnTheBatch) {
  const Case c = GetParam();
  cpu::CpuBackend be(2);
  Rng rng(77);
  const Linear l = make_linear(rng, c, false);
  const int64_t T = 11;
  const std::vector<float> x = normal_vec(rng, static_cast<size_t>(T * c.K));
  std::vector<float> all = to_vec(be, be.linear(act_tensor(x, T, c.K), l));
  for (int64_t t = 0; t < T; ++t) {
    be.begin_pass();
    std::vector<float> xt(x.begin() + t * c.K, x.begin() + (t + 1) * c.K);
    std::vector<float> one = to_vec(be, be.linear(act_tensor(xt, 1, c.K), l));
    ASSERT_EQ(0, std::memcmp(one.data(), all.data() + t * c.N, static_cast<size_t>(c.N) * sizeof(float)))
        << "row " << t << " differs between a batch of " << T << " and a batch of 1";
  }
}

// MLX's safetensors writer does not pad its header, so weight views in real files can start at
// any byte offset. The kernels must give the same bits on such views (and UBSan must stay quiet).
Tensor shifted(const Tensor& t, size_t offset, std::vector<std::shared_ptr<uint8_t[]>>& keep) {
  if (t.empty()) return t;
  std::shared_ptr<uint8_t[]> buf(new uint8_t[t.nbytes() + 8]);
  std::memcpy(buf.get() + offset, t.data, t.nbytes());
  keep.push_back(buf);
  Tensor v = t;
  v.data = buf.get() + offset;
  v.owner = buf;
  return v;
}

TEST_P(LinearTest, MisalignedWeightViewsGiveTheSameBits) {
  const Case c = GetParam();
  cpu::CpuBackend be(2);
  Rng rng(5);
  const Linear l = make_linear(rng, c, true);
  const std::vector<float> x = normal_vec(rng, static_cast<size_t>(6 * c.K));
  const std::vector<float> want = to_vec(be, be.linear(act_tensor(x, 6, c.K), l));
  const std::vector<float> want1 = to_vec(be, be.linear(act_tensor(std::vector<float>(x.begin(), x.begin() + c.K), 1, c.K), l));
  for (size_t off : {1, 2, 3}) {
    std::vector<std::shared_ptr<uint8_t[]>> keep;
    Linear m = l;
    m.weight = shifted(l.weight, off, keep);
    m.scales = shifted(l.scales, off, keep);
    m.biases = shifted(l.biases, off, keep);
    m.bias = shifted(l.bias, off, keep);
    EXPECT_EQ(to_vec(be, be.linear(act_tensor(x, 6, c.K), m)), want) << "offset " << off;
    EXPECT_EQ(to_vec(be, be.linear(act_tensor(std::vector<float>(x.begin(), x.begin() + c.K), 1, c.K), m)), want1)
        << "offset " << off;
  }
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    v.push_back({0, 0, dt, 37, 96});
    v.push_back({0, 0, dt, 8, 13});  // K not a multiple of the vector length
  }
  for (int bits : {2, 3, 4, 5, 6, 8})
    for (int group : {32, 64, 128})
      for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
        v.push_back({bits, group, dt, 19, group * 3});  // few groups, ragged N
        if (dt == DType::BF16) v.push_back({bits, group, dt, 8, 576 / group * group});
      }
  return v;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return (c.bits ? "q" + std::to_string(c.bits) + "g" + std::to_string(c.group) : std::string("dense")) +
         "_" + dt_name(c.dtype) + "_" + std::to_string(c.N) + "x" + std::to_string(c.K);
}

INSTANTIATE_TEST_SUITE_P(All, LinearTest, ::testing::ValuesIn(cases()), case_name);

}  // namespace
}  // namespace ollmlx::test
