// MLX's floating-point quantization modes (mxfp4, mxfp8, nvfp4) on the CPU backend. The reference
// is MLX itself: tests/data/fp_quant_mlx.json holds what mx.dequantize returns for every FP4 code,
// every FP8 E4M3 byte, every E8M0 scale byte and every nvfp4 E4M3 scale byte
// (tools/make_fp_quant_table.py). Checked here:
//  * the backend's decoding tables equal MLX's for all 2 x 256 + 256 + 16 entries (NaN/inf too);
//  * the linear op in every mode, for decode and prefill token counts and ragged sizes, against a
//    double-precision sum over weights decoded through MLX's tables (bit-by-bit unpacking written
//    here, independently of the kernel), plus batch independence and misaligned views;
//  * embedding lookups in every mode;
//  * malformed fp layers are rejected with an error naming the layer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/fp_quant.h"
#include "test_util.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

struct MlxTables {
  std::vector<float> fp4, e4m3, e8m0, nv, nv_global;
  float global_scale = 0;
};

std::vector<float> hex_floats(const nlohmann::json& a) {
  std::vector<float> v;
  for (const auto& s : a) {
    const uint32_t u = static_cast<uint32_t>(std::stoul(s.get<std::string>(), nullptr, 16));
    float f;
    std::memcpy(&f, &u, 4);
    v.push_back(f);
  }
  return v;
}

const MlxTables& mlx_tables() {
  static const MlxTables t = [] {
    const char* src = std::getenv("OLLMLX_SOURCE_DIR");
    const std::string path = std::string(src ? src : ".") + "/tests/data/fp_quant_mlx.json";
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open " + path);
    const nlohmann::json j = nlohmann::json::parse(f);
    MlxTables r;
    r.fp4 = hex_floats(j.at("fp4_e2m1"));
    r.e4m3 = hex_floats(j.at("fp8_e4m3"));
    r.e8m0 = hex_floats(j.at("scale_e8m0"));
    r.nv = hex_floats(j.at("scale_nvfp4_e4m3"));
    r.nv_global = hex_floats(j.at("scale_nvfp4_e4m3_with_global_scale"));
    r.global_scale = j.at("nvfp4_global_scale").get<float>();
    return r;
  }();
  return t;
}

// Same value, NaN matching NaN; +0 and -0 distinguished.
bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, 4) == 0;
}

TEST(FpQuant, DecodingTablesEqualMlx) {
  const MlxTables& m = mlx_tables();
  ASSERT_EQ(m.fp4.size(), 16u);
  ASSERT_EQ(m.e4m3.size(), 256u);
  ASSERT_EQ(m.e8m0.size(), 256u);
  ASSERT_EQ(m.nv.size(), 256u);
  const auto& t = cpu::fpq::tables();
  for (int i = 0; i < 16; ++i) EXPECT_TRUE(same(t.fp4[i], m.fp4[i])) << "fp4 code " << i;
  for (int i = 0; i < 256; ++i) {
    const auto b = static_cast<uint8_t>(i);
    EXPECT_TRUE(same(t.e4m3[b], m.e4m3[b])) << "e4m3 byte " << i << ": " << t.e4m3[b] << " vs " << m.e4m3[b];
    EXPECT_TRUE(same(cpu::fpq::scale_value(t, QuantMode::MxFp4, b, 0), m.e8m0[b])) << "e8m0 byte " << i;
    EXPECT_TRUE(same(cpu::fpq::scale_value(t, QuantMode::NvFp4, b, 0), m.nv[b])) << "nvfp4 scale byte " << i;
    // With a global scale MLX multiplies in float32 with its own operation order: allow 1 ulp.
    const float g = cpu::fpq::scale_value(t, QuantMode::NvFp4, b, m.global_scale);
    if (std::isnan(m.nv_global[b])) {
      EXPECT_TRUE(std::isnan(g)) << "nvfp4 global scale byte " << i;
    } else {
      EXPECT_NEAR(g, m.nv_global[b], std::fabs(m.nv_global[b]) * 1.2e-7) << "nvfp4 global scale byte " << i;
    }
  }
}

// ---- layers ---------------------------------------------------------------------------------

struct FpCase {
  QuantMode mode;
  int64_t N, K;
  bool global = false;  // nvfp4 with a global scale
};

int bits_of(QuantMode m) { return m == QuantMode::MxFp8 ? 8 : 4; }
int group_of(QuantMode m) { return m == QuantMode::NvFp4 ? 16 : 32; }

// A random fp-quantized layer. Codes avoid the NaN encodings of E4M3; scales stay in a range
// where products are normal floats (MLX's own quantizer produces such scales).
Linear fp_linear(Rng& rng, const FpCase& c) {
  const int bits = bits_of(c.mode), gs = group_of(c.mode);
  Linear l;
  l.name = std::string("model.layers.0.mlp.") + quant_str({c.mode, bits, gs});
  l.out = c.N;
  l.in = c.K;
  l.quant = {c.mode, bits, gs};
  l.weight = make_host_tensor(DType::U32, {c.N, c.K * bits / 32});
  std::memset(l.weight.data, 0, l.weight.nbytes());
  for (int64_t r = 0; r < c.N; ++r)
    for (int64_t k = 0; k < c.K; ++k) {
      uint32_t q = static_cast<uint32_t>(rng.integer(0, (1 << bits) - 1));
      if (bits == 8 && (q & 0x7f) == 0x7f) q ^= 1;  // not NaN
      put_bits(l.weight.ptr<uint32_t>() + r * (c.K * bits / 32), k, bits, q);
    }
  l.scales = make_host_tensor(DType::U8, {c.N, c.K / gs});
  for (int64_t i = 0; i < l.scales.numel(); ++i)
    l.scales.ptr<uint8_t>()[i] = static_cast<uint8_t>(
        c.mode == QuantMode::NvFp4 ? rng.integer(0x20, 0x60)     // E4M3 2^-3 .. 2^5
                                   : rng.integer(118, 130));     // E8M0 2^-9 .. 2^3
  if (c.global) l.global_scale = 2.5f;
  validate_linear(l);
  return l;
}

// W[n][k] through MLX's decoding tables (the element unpacked bit by bit).
double fp_weight(const Linear& l, int64_t n, int64_t k) {
  const MlxTables& m = mlx_tables();
  const int bits = l.quant.bits, gs = l.quant.group_size;
  const uint32_t* row = l.weight.ptr<const uint32_t>() + n * (l.in * bits / 32);
  uint32_t q = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t i = k * bits + b;
    q |= ((row[i / 32] >> (i % 32)) & 1u) << b;
  }
  const uint8_t s = l.scales.ptr<const uint8_t>()[n * (l.in / gs) + k / gs];
  double scale;
  if (l.quant.mode == QuantMode::NvFp4)
    scale = l.global_scale > 0 ? m.nv[s] * (static_cast<double>(l.global_scale) / (448.0 * 6.0)) : m.nv[s];
  else
    scale = m.e8m0[s];
  // MLX's tables hold value * 1.0 (scale byte 127 / code 1.0), so these are the plain values.
  return scale * (bits == 8 ? m.e4m3[q] : m.fp4[q]);
}

class FpLinearTest : public ::testing::TestWithParam<FpCase> {};

TEST_P(FpLinearTest, MatchesMlxDecodedReference) {
  const FpCase c = GetParam();
  cpu::CpuBackend be(2);
  Rng rng(static_cast<uint64_t>(c.N * 131 + c.K + static_cast<int>(c.mode)));
  const Linear l = fp_linear(rng, c);
  for (int64_t T : {1, 2, 3, 4, 5, 7, 16}) {
    const std::vector<float> x = normal_vec(rng, static_cast<size_t>(T * c.K));
    poison_arena(be);
    const std::vector<float> y = to_vec(be, be.linear(act_tensor(x, T, c.K), l));
    std::vector<double> ref(static_cast<size_t>(T * c.N)), mag(ref.size());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < c.N; ++n) {
        double s = 0, a = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const double p = x[static_cast<size_t>(t * c.K + k)] * fp_weight(l, n, k);
          s += p;
          a += std::fabs(p);
        }
        ref[static_cast<size_t>(t * c.N + n)] = s;
        mag[static_cast<size_t>(t * c.N + n)] = a;
      }
    // Decoded weights are exact in float32 (no global scale) or one rounding off (global);
    // float32 accumulation of K products: K * 2^-24 * sum|x*w|, 4x margin for the summation tree.
    const double eps = 4.0 * static_cast<double>(c.K) * std::ldexp(1.0, -24) + (c.global ? std::ldexp(1.0, -23) : 0.0);
    EXPECT_TRUE(all_close(y, ref, [&](size_t i) { return eps * mag[i] + 1e-30; },
                          quant_str(l.quant) + " T=" + std::to_string(T)));
  }
}

TEST_P(FpLinearTest, RowResultDoesNotDependOnTheBatch) {
  const FpCase c = GetParam();
  cpu::CpuBackend be(2);
  Rng rng(78);
  const Linear l = fp_linear(rng, c);
  const int64_t T = 9;
  const std::vector<float> x = normal_vec(rng, static_cast<size_t>(T * c.K));
  const std::vector<float> all = to_vec(be, be.linear(act_tensor(x, T, c.K), l));
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> xt(x.begin() + t * c.K, x.begin() + (t + 1) * c.K);
    const std::vector<float> one = to_vec(be, be.linear(act_tensor(xt, 1, c.K), l));
    ASSERT_EQ(0, std::memcmp(one.data(), all.data() + t * c.N, static_cast<size_t>(c.N) * sizeof(float)))
        << "row " << t;
  }
}

TEST_P(FpLinearTest, MisalignedWeightViewsGiveTheSameBits) {
  const FpCase c = GetParam();
  cpu::CpuBackend be(2);
  Rng rng(6);
  const Linear l = fp_linear(rng, c);
  const std::vector<float> x = normal_vec(rng, static_cast<size_t>(5 * c.K));
  const std::vector<float> want = to_vec(be, be.linear(act_tensor(x, 5, c.K), l));
  for (size_t off : {1, 2, 3}) {
    std::vector<std::shared_ptr<uint8_t[]>> keep;
    auto shift = [&](const Tensor& t) {
      std::shared_ptr<uint8_t[]> buf(new uint8_t[t.nbytes() + 8]);
      std::memcpy(buf.get() + off, t.data, t.nbytes());
      keep.push_back(buf);
      Tensor v = t;
      v.data = buf.get() + off;
      v.owner = buf;
      return v;
    };
    Linear m = l;
    m.weight = shift(l.weight);
    m.scales = shift(l.scales);
    EXPECT_EQ(to_vec(be, be.linear(act_tensor(x, 5, c.K), m)), want) << "offset " << off;
  }
}

std::vector<FpCase> fp_cases() {
  std::vector<FpCase> v;
  for (QuantMode m : {QuantMode::MxFp4, QuantMode::MxFp8, QuantMode::NvFp4}) {
    v.push_back({m, 19, 96});   // ragged N, 3 (or 6) groups
    v.push_back({m, 8, 512});
    v.push_back({m, 5, 32});    // one group (two for nvfp4)
  }
  v.push_back({QuantMode::NvFp4, 7, 64, true});
  return v;
}

std::string fp_case_name(const ::testing::TestParamInfo<FpCase>& info) {
  const FpCase& c = info.param;
  std::string n = quant_str({c.mode, bits_of(c.mode), group_of(c.mode)});
  return n + "_" + std::to_string(c.N) + "x" + std::to_string(c.K) + (c.global ? "_global" : "");
}

INSTANTIATE_TEST_SUITE_P(All, FpLinearTest, ::testing::ValuesIn(fp_cases()), fp_case_name);

TEST(FpQuant, EmbeddingRowsEqualMlxDecoding) {
  cpu::CpuBackend be(2);
  Rng rng(9);
  for (QuantMode m : {QuantMode::MxFp4, QuantMode::MxFp8, QuantMode::NvFp4}) {
    const Linear t = fp_linear(rng, {m, 41, 96});
    const std::vector<int32_t> ids = {0, 40, 7, 7, 23};
    for (DType compute : {DType::F32, DType::BF16}) {
      be.set_activation_dtype(DType::F32);
      poison_arena(be);
      const std::vector<float> got = to_vec(be, be.embed(t, ids, compute));
      for (size_t i = 0; i < ids.size(); ++i)
        for (int64_t k = 0; k < t.in; ++k) {
          // scale * value is exact in float32 and (for these scales) in bf16.
          const float want = static_cast<float>(fp_weight(t, ids[i], k));
          ASSERT_EQ(got[i * static_cast<size_t>(t.in) + static_cast<size_t>(k)], want)
              << quant_str(t.quant) << " id " << ids[i] << " k " << k;
        }
    }
  }
}

TEST(FpQuant, MalformedLayersAreRejectedByName) {
  Rng rng(10);
  const Linear good = fp_linear(rng, {QuantMode::MxFp4, 4, 64});
  auto expect_error = [](const Linear& l, const std::string& what) {
    try {
      validate_linear(l);
      ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(l.name), std::string::npos) << what << ": " << e.what();
    }
  };
  Linear a = good;
  a.scales = make_host_tensor(DType::BF16, {4, 2});
  expect_error(a, "bf16 scales");
  Linear b = good;
  b.biases = make_host_tensor(DType::U8, {4, 2});
  expect_error(b, "biases");
  Linear c = good;
  c.quant.group_size = 64;
  expect_error(c, "group 64");
  Linear d = good;
  d.global_scale = 2.0f;
  expect_error(d, "global scale on mxfp4");
  Linear e = good;
  e.weight = make_host_tensor(DType::U32, {4, 4});
  expect_error(e, "short weight");
}

}  // namespace
}  // namespace ollmlx::test
