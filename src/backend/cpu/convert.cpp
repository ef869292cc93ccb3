// Float conversions shared by the CPU kernels: reading F32/F16/BF16 parameters as float32 and
// rounding activations to the emulated activation dtype.
#include <cstring>

#include "backend/cpu/kernels.h"
#include "util/error.h"
#include "util/half.h"
#include "util/unaligned.h"

namespace ollmlx::cpu {

void round_to(DType act, float* x, int64_t n) {
  if (act == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u;
      std::memcpy(&u, &x[i], 4);
      if ((u & 0x7fffffffu) > 0x7f800000u) continue;  // keep NaN as is
      u += 0x7fffu + ((u >> 16) & 1u);
      u &= 0xffff0000u;
      std::memcpy(&x[i], &u, 4);
    }
  } else if (act == DType::F16) {
    for (int64_t i = 0; i < n; ++i) x[i] = round_f16(x[i]);
  }
}

float load_float(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32:
      return load_f32_at(t.data, i);
    case DType::F16:
      return f16_to_f32(load_u16_at(t.data, i));
    case DType::BF16:
      return bf16_to_f32(load_u16_at(t.data, i));
    default:
      throw_error("cpu", "cannot read a {} tensor as float", dtype_name(t.dtype));
  }
}

void to_f32(const Tensor& t, int64_t offset, int64_t n, float* out) {
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const uint8_t*>(t.data) + offset * 4, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      const uint8_t* p = static_cast<const uint8_t*>(t.data) + offset * 2;
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(load_u16_at(p, i));
      return;
    }
    case DType::BF16: {
      const uint8_t* p = static_cast<const uint8_t*>(t.data) + offset * 2;
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(load_u16_at(p, i));
      return;
    }
    default:
      throw_error("cpu", "cannot read a {} tensor as float", dtype_name(t.dtype));
  }
}

}  // namespace ollmlx::cpu
