// Rotary position embedding on the CPU (RopeSpec in backend/rope_spec.h), in place.
// Angles follow MLX's Metal kernel in float32: theta = (position_scale * float(p)) * inv_freq[i];
// cos/sin of that float angle come from the C library (cosf/sinf, accurate to ~1 ulp), and the
// rotation is done in float32. mscale multiplies the rotated dimensions before the rotation.
// Dynamic NTK scaling picks inv_freq per sequence from its length pos0 + count.
#include <cmath>
#include <vector>

#include "backend/cpu/kernels.h"
#include "util/error.h"

namespace ollmlx::cpu {

void rope(ThreadPool& pool, float* x, int n_heads, int head_dim, const BatchLayout& batch,
          const RopeSpec& spec) {
  const int half = spec.dims / 2;
  if (spec.dims <= 0 || spec.dims % 2 != 0 || spec.dims > head_dim)
    throw_error("rope", "rotated dims {} must be even and within head_dim {}", spec.dims, head_dim);
  if (!spec.dynamic && spec.inv_freq.size() != static_cast<size_t>(half))
    throw_error("rope", "{} inverse frequencies for {} rotated dims", spec.inv_freq.size(),
                spec.dims);
  if (spec.dynamic && (spec.max_position <= 0 || spec.dims <= 2))
    throw_error("rope", "dynamic scaling needs max_position > 0 and dims > 2");

  // Inverse frequencies per sequence (they differ only with dynamic scaling), and the sequence
  // of every row.
  const int32_t T = batch.rows();
  std::vector<std::vector<float>> freqs;
  std::vector<int> seq_of_row(static_cast<size_t>(T));
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    const SeqSpan& span = batch.seqs[s];
    if (span.begin < 0 || span.count < 0 || int64_t{span.begin} + span.count > T)
      throw_error("rope", "span of slot {} outside the batch of {} rows", span.slot, T);
    freqs.push_back(rope_inv_freq_for_length(spec, int64_t{span.pos0} + span.count));
    if (freqs.back().size() != static_cast<size_t>(half))
      throw_error("rope", "{} inverse frequencies for {} rotated dims", freqs.back().size(),
                  spec.dims);
    for (int32_t r = span.begin; r < span.begin + span.count; ++r)
      seq_of_row[static_cast<size_t>(r)] = static_cast<int>(s);
  }
  if (batch.seqs.empty() && T > 0) throw_error("rope", "batch of {} rows has no sequences", T);

  const int64_t row_len = int64_t{n_heads} * head_dim;
  pool.parallel_for(T, 8, [&](int64_t b, int64_t e) {
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t t = b; t < e; ++t) {
      const std::vector<float>& inv =
          freqs[static_cast<size_t>(seq_of_row[static_cast<size_t>(t)])];
      const float pos =
          spec.position_scale * static_cast<float>(batch.positions[static_cast<size_t>(t)]);
      for (int i = 0; i < half; ++i) {
        const float theta = pos * inv[static_cast<size_t>(i)];
        cs[static_cast<size_t>(i)] = std::cos(theta);
        sn[static_cast<size_t>(i)] = std::sin(theta);
      }
      for (int h = 0; h < n_heads; ++h) {
        float* xh = x + t * row_len + int64_t{h} * head_dim;
        if (spec.mscale != 1.0f)
          for (int i = 0; i < spec.dims; ++i) xh[i] *= spec.mscale;
        // Pair i is (x[i], x[i + half]) or, traditional, (x[2i], x[2i + 1]).
        const int stride = spec.traditional ? 2 : 1;
        const int second = spec.traditional ? 1 : half;
        for (int i = 0; i < half; ++i) {
          float* a = xh + i * stride;
          float* c = a + second;
          const float x1 = *a, x2 = *c;
          const float co = cs[static_cast<size_t>(i)], si = sn[static_cast<size_t>(i)];
          *a = x1 * co - x2 * si;
          *c = x1 * si + x2 * co;
        }
      }
    }
  });
}

}  // namespace ollmlx::cpu
