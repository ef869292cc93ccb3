// RMSNorm on the CPU, MLX's mx.fast.rms_norm numerics: per row r = rsqrt(mean(x^2) + eps) in
// float32, n = x * r rounded to the activation dtype, y = w * n (the backend glue rounds y).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/kernels.h"

namespace ollmlx::cpu {

namespace {

// sum(x^2) over n floats with 8 independent partial sums (vectorisable without -ffast-math).
float sum_squares(const float* x, int64_t n) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] += x[i + j] * x[i + j];
  float sum = 0.0f;
  for (; i < n; ++i) sum += x[i] * x[i];
  for (float p : part) sum += p;
  return sum;
}

}  // namespace

void rms_norm(ThreadPool& pool, const float* x, int64_t rows, int64_t dim, const Tensor& w,
              float eps, DType act, float* y) {
  std::vector<float> wf(static_cast<size_t>(dim));  // [dim] weight as float
  to_f32(w, 0, dim, wf.data());
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1));
  pool.parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * dim;
      float* yr = y + r * dim;
      const float mean = sum_squares(xr, dim) / static_cast<float>(dim);
      const float inv = 1.0f / std::sqrt(mean + eps);
      for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv;
      round_to(act, yr, dim);
      for (int64_t i = 0; i < dim; ++i) yr[i] *= wf[static_cast<size_t>(i)];
    }
  });
}

}  // namespace ollmlx::cpu
