// Embedding lookup on the CPU: rows of a dense (F32/F16/BF16), affine-quantized or
// mxfp4/mxfp8/nvfp4 table [vocab, D], dequantized as scale * q + bias (affine) or scale * value
// (fp modes) in the requested compute dtype (MLX: the scales' dtype; bf16 for the fp modes); the backend glue rounds the result to that dtype and to the activation dtype. Quantized rows are little-endian bit streams (mlx-format.md §1.5).
#include <vector>

#include "backend/cpu/fp_quant.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_bits.h"
#include "util/error.h"
#include "util/unaligned.h"

namespace ollmlx::cpu {

namespace {

// y[D] = dequantized row `id` of an affine table.
void affine_row(const Linear& t, int64_t id, DType compute, float* y, std::vector<float>& sc,
                std::vector<float>& bi) {
  const int bits = t.quant.bits;
  const int64_t gs = t.quant.group_size;
  const int64_t groups = t.in / gs;
  const int64_t words = t.in * bits / 32;
  const uint32_t* row = t.weight.ptr<const uint32_t>() + id * words;
  to_f32(t.scales, id * groups, groups, sc.data());
  to_f32(t.biases, id * groups, groups, bi.data());
  for (int64_t g = 0; g < groups; ++g) {
    const float s = sc[static_cast<size_t>(g)], b = bi[static_cast<size_t>(g)];
    for (int64_t k = g * gs; k < (g + 1) * gs; ++k)
      y[k] = s * static_cast<float>(packed_element(row, k, bits));
    // MLX's dequantize runs in the scales' dtype: q*s is rounded to it before the bias is added
    // (checked against mx.dequantize on the CPU: bit-identical).
    round_to(compute, y + g * gs, gs);
    for (int64_t k = g * gs; k < (g + 1) * gs; ++k) y[k] += b;
  }
}

}  // namespace

void embed(ThreadPool& pool, const Linear& table, const std::vector<int32_t>& ids, DType compute,
           float* y) {
  const bool affine = table.quant.mode == QuantMode::Affine;
  const bool fp = fpq::is_fp_mode(table.quant.mode);
  if (table.quantized() && !affine && !fp)
    throw_error("embed", "{}: {} embedding tables are not supported", table.name,
                quant_str(table.quant));
  validate_linear(table);  // shapes and dtypes, so rows can be read without bounds checks
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= table.out)
      throw_error("embed", "{}: token id {} (row {}) outside the vocabulary of {}", table.name,
                  ids[i], i, table.out);

  const int64_t D = table.in;
  const int64_t n = static_cast<int64_t>(ids.size());
  pool.parallel_for(n, 4, [&](int64_t b, int64_t e) {
    std::vector<float> sc, bi;  // [groups] scales / biases of one row
    if (affine) {
      sc.resize(static_cast<size_t>(D / table.quant.group_size));
      bi.resize(sc.size());
    }
    for (int64_t i = b; i < e; ++i) {
      const int64_t id = ids[static_cast<size_t>(i)];
      if (affine)
        affine_row(table, id, compute, y + i * D, sc, bi);
      else if (fp)  // scale * value, exact in float32; the glue rounds to `compute`
        fpq::decode_row(table, id, 0, D, y + i * D);
      else
        to_f32(table.weight, id * D, D, y + i * D);
    }
  });
}

}  // namespace ollmlx::cpu
