#include "core/linear.h"

#include <fmt/format.h>

#include <cmath>

#include "util/error.h"

namespace ollmlx {

std::string quant_str(const QuantSpec& q) {
  switch (q.mode) {
    case QuantMode::None:
      return "dense";
    case QuantMode::Affine:
      return fmt::format("affine {}-bit g{}", q.bits, q.group_size);
    case QuantMode::MxFp4:
      return "mxfp4";
    case QuantMode::MxFp8:
      return "mxfp8";
    case QuantMode::NvFp4:
      return "nvfp4";
  }
  return "?";
}

namespace {
void expect_shape(const Linear& l, const char* what, const Tensor& t, const Shape& want) {
  if (t.shape != want)
    throw_error("weights", "{}.{}: shape {} but {} expected for {} x {} ({})", l.name, what,
                shape_str(t.shape), shape_str(want), l.out, l.in, quant_str(l.quant));
}
void expect_float(const Linear& l, const char* what, const Tensor& t) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    throw_error("weights", "{}.{}: dtype {} is not a float type (F32, F16 or BF16)", l.name, what,
                dtype_name(t.dtype));
}
}  // namespace

void validate_linear(const Linear& l) {
  if (l.out <= 0 || l.in <= 0) throw_error("weights", "{}: empty layer {} x {}", l.name, l.out, l.in);
  if (l.weight.empty()) throw_error("weights", "{}: missing weight", l.name);
  if (!l.quantized()) {
    expect_float(l, "weight", l.weight);
    expect_shape(l, "weight", l.weight, {l.out, l.in});
  } else if (l.quant.mode == QuantMode::Affine) {
    const int b = l.quant.bits, gs = l.quant.group_size;
    if (!(b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 8))
      throw_error("weights", "{}: unsupported affine bits {} (2, 3, 4, 5, 6 or 8)", l.name, b);
    if (!(gs == 32 || gs == 64 || gs == 128))
      throw_error("weights", "{}: unsupported group size {} (32, 64 or 128)", l.name, gs);
    if (l.in % gs != 0)
      throw_error("weights", "{}: input dim {} not a multiple of group size {}", l.name, l.in, gs);
    if (l.weight.dtype != DType::U32)
      throw_error("weights", "{}.weight: quantized weight must be U32, found {}", l.name,
                  dtype_name(l.weight.dtype));
    expect_shape(l, "weight", l.weight, {l.out, l.in * b / 32});
    if (l.scales.empty() || l.biases.empty())
      throw_error("weights", "{}: affine layer needs scales and biases", l.name);
    expect_float(l, "scales", l.scales);
    expect_float(l, "biases", l.biases);
    if (l.scales.dtype != l.biases.dtype)
      throw_error("weights", "{}: scales are {} but biases are {}", l.name,
                  dtype_name(l.scales.dtype), dtype_name(l.biases.dtype));
    expect_shape(l, "scales", l.scales, {l.out, l.in / gs});
    expect_shape(l, "biases", l.biases, {l.out, l.in / gs});
  } else {
    // mxfp4 / mxfp8 / nvfp4: U32 codes (FP4 E2M1 nibbles or FP8 E4M3 bytes), U8 scales (E8M0
    // for the mx modes, E4M3 for nvfp4), no biases.
    const QuantMode m = l.quant.mode;
    const int want_bits = m == QuantMode::MxFp8 ? 8 : 4;
    const int want_gs = m == QuantMode::NvFp4 ? 16 : 32;
    if (l.quant.bits != want_bits || l.quant.group_size != want_gs)
      throw_error("weights", "{}: {} needs bits {} and group size {}, not {} and {}", l.name,
                  quant_str(l.quant), want_bits, want_gs, l.quant.bits, l.quant.group_size);
    if (l.in % want_gs != 0)
      throw_error("weights", "{}: input dim {} not a multiple of group size {}", l.name, l.in,
                  want_gs);
    if (l.weight.dtype != DType::U32)
      throw_error("weights", "{}.weight: quantized weight must be U32, found {}", l.name,
                  dtype_name(l.weight.dtype));
    expect_shape(l, "weight", l.weight, {l.out, l.in * want_bits / 32});
    if (l.scales.empty()) throw_error("weights", "{}: {} layer needs scales", l.name, quant_str(l.quant));
    if (l.scales.dtype != DType::U8)
      throw_error("weights", "{}.scales: {} scales must be U8, found {}", l.name,
                  quant_str(l.quant), dtype_name(l.scales.dtype));
    expect_shape(l, "scales", l.scales, {l.out, l.in / want_gs});
    if (!l.biases.empty())
      throw_error("weights", "{}: {} layers have no biases", l.name, quant_str(l.quant));
    if (!std::isfinite(l.global_scale) || l.global_scale < 0.0f)
      throw_error("weights", "{}: global scale {} must be positive and finite", l.name,
                  l.global_scale);
    if (m != QuantMode::NvFp4 && l.global_scale != 0.0f)
      throw_error("weights", "{}: only nvfp4 layers take a global scale", l.name);
  }
  if (l.has_bias()) {
    expect_float(l, "bias", l.bias);
    expect_shape(l, "bias", l.bias, {l.out});
  }
}

}  // namespace ollmlx
