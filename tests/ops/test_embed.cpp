// Embedding lookups through the Backend interface against the bit-by-bit reference: dense tables
// of every float dtype and affine tables of every bits / group size / scale dtype.
#include <gtest/gtest.h>

#include "reference.h"
#include "test_util.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

const DType kActs[] = {DType::F32, DType::BF16, DType::F16};

// Tolerance: the kernel computes scale * q + bias in float32 (two roundings, each <= 2^-24 of
// its result, bounded by 2^-23 * (|scale| q + |bias|)); dense rows are converted exactly. The
// output is then rounded to the activation dtype: half an ulp of that dtype.
void check_rows(Backend& be, const Linear& table, const std::vector<int32_t>& ids, DType act,
                const std::string& what) {
  be.set_activation_dtype(act);
  poison_arena(be);
  const std::vector<float> got = to_vec(be, be.embed(table, ids, DType::F32));
  const std::vector<double> ref = ref::embed(table, ids);
  // Magnitude bound per element: |scale| q + |bias| <= |ref| + 2|bias| <= |ref| + 2.
  EXPECT_TRUE(all_close(
      got, ref,
      [&](size_t i) {
        const double mag = table.quantized() ? std::fabs(ref[i]) + 2.0 : 0.0;
        return std::ldexp(mag, -23) * 2 +
               0.5 * ulp(act, std::max(std::fabs(ref[i]), double{std::fabs(got[i])}));
      },
      what));
}

TEST(Embed, DenseTables) {
  auto be = create_backend("cpu", 2);
  Rng rng(1);
  for (DType wdt : {DType::F32, DType::F16, DType::BF16}) {
    for (int64_t dim : {1, 7, 64, 576}) {
      const int64_t vocab = 50;
      Linear t;
      t.name = "embed";
      t.out = vocab;
      t.in = dim;
      t.weight = param_tensor(wdt, normal_vec(rng, static_cast<size_t>(vocab * dim)), {vocab, dim});
      std::vector<int32_t> ids = {0, 49, 3, 3, 17};
      for (DType act : kActs)
        check_rows(*be, t, ids, act,
                   std::string("dense ") + dt_name(wdt) + " dim " + std::to_string(dim) + " act " +
                       dt_name(act));
    }
  }
}

TEST(Embed, AffineAllBitsGroupsScaleDtypes) {
  auto be = create_backend("cpu", 2);
  Rng rng(2);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int group : {32, 64, 128}) {
      for (DType sdt : {DType::F32, DType::F16, DType::BF16}) {
        const int64_t dim = group == 32 ? 96 : 384;  // several groups, odd number of them at 32
        const int64_t vocab = 37;
        const Linear t = affine_table(rng, vocab, dim, bits, group, sdt);
        std::vector<int32_t> ids;
        for (int i = 0; i < 40; ++i) ids.push_back(static_cast<int32_t>(rng.integer(0, vocab - 1)));
        ids.push_back(0);
        ids.push_back(static_cast<int32_t>(vocab - 1));
        for (DType act : kActs)
          check_rows(*be, t, ids, act,
                     "affine " + std::to_string(bits) + "-bit g" + std::to_string(group) + " " +
                         dt_name(sdt) + " act " + dt_name(act));
      }
    }
  }
}

TEST(Embed, ManyIdsUseAllThreads) {
  auto be = create_backend("cpu", 2);
  Rng rng(3);
  const Linear t = affine_table(rng, 300, 256, 4, 64, DType::BF16);
  std::vector<int32_t> ids;
  for (int i = 0; i < 700; ++i) ids.push_back(static_cast<int32_t>(rng.integer(0, 299)));
  check_rows(*be, t, ids, DType::BF16, "700 ids");
}

TEST(Embed, BadIdsThrow) {
  auto be = create_backend("cpu", 2);
  Rng rng(4);
  const Linear q = affine_table(rng, 10, 64, 4, 32, DType::F16);
  for (int32_t bad : {-1, 10, 1 << 30}) {
    try {
      be->embed(q, {0, bad}, DType::F32);
      FAIL() << "id " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.subsystem(), "embed");
    }
  }
}

}  // namespace
}  // namespace ollmlx::test

namespace ollmlx::test {
namespace {

// Lookups evaluated in F16/BF16 round q*scale and then (+bias) to that dtype, as MLX's dequantize
// does on the CPU: exactly, bit for bit, computed here with the same two roundings.
TEST(Embed, AffineInTableDtypeRoundsLikeMlx) {
  auto be = create_backend("cpu", 2);
  Rng rng(9);
  for (DType sdt : {DType::F16, DType::BF16}) {
    for (int bits : {4, 8}) {
      const int64_t dim = 128;
      Linear t = affine_table(rng, 20, dim, bits, 32, sdt);
      const std::vector<int32_t> ids = {3, 0, 19};
      be->set_activation_dtype(DType::F32);
      be->begin_pass();
      const std::vector<float> got = to_vec(*be, be->embed(t, ids, sdt));
      for (size_t i = 0; i < ids.size(); ++i)
        for (int64_t k = 0; k < dim; ++k) {
          const int64_t g = ids[i] * (dim / 32) + k / 32;
          const float s = sdt == DType::F16 ? f16_to_f32(t.scales.ptr<uint16_t>()[g]) : bf16_to_f32(t.scales.ptr<uint16_t>()[g]);
          const float b = sdt == DType::F16 ? f16_to_f32(t.biases.ptr<uint16_t>()[g]) : bf16_to_f32(t.biases.ptr<uint16_t>()[g]);
          const uint32_t* row = t.weight.ptr<uint32_t>() + ids[i] * (dim * bits / 32);
          uint32_t q = 0;
          for (int bit = 0; bit < bits; ++bit) {
            const int64_t pos = k * bits + bit;
            q |= ((row[pos / 32] >> (pos % 32)) & 1u) << bit;
          }
          const float want = round_dt(sdt, round_dt(sdt, s * static_cast<float>(q)) + b);
          ASSERT_EQ(got[i * dim + static_cast<size_t>(k)], want) << dt_name(sdt) << " bits " << bits;
        }
    }
  }
}

}  // namespace
}  // namespace ollmlx::test
