// Shared helpers of the CPU op tests: seeded random data, host tensors in F32/F16/BF16, packing of
// affine-quantized tables bit by bit, dtype rounding / ulp sizes, arena poisoning and a
// tolerance-checked comparison that names the first offending element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/linear.h"
#include "core/tensor.h"
#include "util/half.h"

namespace ollmlx::test {

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  float normal(float sd = 1.0f) { return std::normal_distribution<float>(0.0f, sd)(gen); }
  int64_t integer(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen);
  }
};

inline std::vector<float> normal_vec(Rng& rng, size_t n, float sd = 1.0f) {
  std::vector<float> v(n);
  for (float& x : v) x = rng.normal(sd);
  return v;
}

// Nearest value of `dt` (F32, F16 or BF16), as float.
inline float round_dt(DType dt, float x) {
  if (dt == DType::BF16) return round_bf16(x);
  if (dt == DType::F16) return round_f16(x);
  return x;
}
inline std::vector<float> round_dt(DType dt, std::vector<float> v) {
  for (float& x : v) x = round_dt(dt, x);
  return v;
}

// Spacing of `dt` values around |v| (for F16 down to its subnormals).
inline double ulp(DType dt, double v) {
  const int mant = dt == DType::BF16 ? 7 : dt == DType::F16 ? 10 : 23;
  const int emin = dt == DType::F16 ? -14 : -126;
  const double a = std::fabs(v);
  const int e = a > 0 ? std::max(static_cast<int>(std::floor(std::log2(a))), emin) : emin;
  return std::ldexp(1.0, e - mant);
}

// A host F32 activation [rows, cols] holding v.
inline Tensor act_tensor(const std::vector<float>& v, int64_t rows, int64_t cols) {
  Tensor t = make_host_tensor(DType::F32, {rows, cols});
  std::memcpy(t.data, v.data(), v.size() * sizeof(float));
  return t;
}

// A host tensor of dtype dt (F32/F16/BF16) holding round_dt(dt, v).
inline Tensor param_tensor(DType dt, const std::vector<float>& v, Shape shape) {
  Tensor t = make_host_tensor(dt, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::F32)
      t.ptr<float>()[i] = v[i];
    else if (dt == DType::BF16)
      t.ptr<uint16_t>()[i] = f32_to_bf16(v[i]);
    else
      t.ptr<uint16_t>()[i] = f32_to_f16(v[i]);
  }
  return t;
}

// Sets element k of a quantized row to q, one stream bit at a time (bit i of the row is bit
// i % 32 of word i / 32).
inline void put_bits(uint32_t* row, int64_t k, int bits, uint32_t q) {
  for (int b = 0; b < bits; ++b) {
    const int64_t i = k * bits + b;
    const uint32_t mask = 1u << (i % 32);
    if ((q >> b) & 1u)
      row[i / 32] |= mask;
    else
      row[i / 32] &= ~mask;
  }
}

// A random affine-quantized table [vocab, dim]: q uniform in [0, 2^bits), scales of both signs
// (MLX allows negative scales), biases around zero.
inline Linear affine_table(Rng& rng, int64_t vocab, int64_t dim, int bits, int group,
                           DType scale_dtype) {
  Linear l;
  l.name = "embed_tokens";
  l.out = vocab;
  l.in = dim;
  l.quant = {QuantMode::Affine, bits, group};
  l.weight = make_host_tensor(DType::U32, {vocab, dim * bits / 32});
  std::memset(l.weight.data, 0, l.weight.nbytes());
  for (int64_t r = 0; r < vocab; ++r)
    for (int64_t k = 0; k < dim; ++k)
      put_bits(l.weight.ptr<uint32_t>() + r * (dim * bits / 32), k, bits,
               static_cast<uint32_t>(rng.integer(0, (int64_t{1} << bits) - 1)));
  const size_t ng = static_cast<size_t>(vocab * (dim / group));
  std::vector<float> s(ng), b(ng);
  for (size_t i = 0; i < ng; ++i) {
    s[i] = rng.uniform(0.001f, 0.05f) * (rng.integer(0, 3) == 0 ? -1.0f : 1.0f);
    b[i] = rng.uniform(-1.0f, 1.0f);
  }
  l.scales = param_tensor(scale_dtype, s, {vocab, dim / group});
  l.biases = param_tensor(scale_dtype, b, {vocab, dim / group});
  return l;
}

// Makes the backend fill every new activation buffer with NaN, so any output element an op
// forgets to write stays NaN and fails the comparison.
inline void poison_arena(Backend& be) { be.set_debug_poison(true); }

inline std::vector<float> to_vec(Backend& be, const Tensor& t) {
  std::vector<float> v;
  be.to_host(t, v);
  return v;
}

// Checks |got[i] - ref[i]| <= tol(i) for all i (NaN always fails); reports the first failure and
// how many elements failed.
inline ::testing::AssertionResult all_close(const std::vector<float>& got,
                                            const std::vector<double>& ref,
                                            const std::function<double(size_t)>& tol,
                                            const std::string& what) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure()
           << what << ": " << got.size() << " values, reference has " << ref.size();
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (!(diff <= tol(i)) || !std::isfinite(got[i])) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": " << bad << " of " << got.size() << " elements out of tolerance; first ["
         << first << "] got " << got[first] << " ref " << ref[first] << " tol " << tol(first);
}

inline const char* dt_name(DType dt) {
  return dt == DType::BF16 ? "bf16" : dt == DType::F16 ? "f16" : "f32";
}

}  // namespace ollmlx::test
