// Loads from memory of any alignment. MLX's safetensors writer does not pad its header, so tensor
// data in real model files can start at any byte offset; kernels read weights through these
// (a memcpy of a fixed size compiles to a plain load) instead of dereferencing typed pointers.
#pragma once

#include <cstdint>
#include <cstring>

namespace ollmlx {

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline float load_f32(const void* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// Element i of a packed array of T at p (any alignment).
inline uint32_t load_u32_at(const void* p, int64_t i) {
  return load_u32(static_cast<const uint8_t*>(p) + i * 4);
}
inline uint16_t load_u16_at(const void* p, int64_t i) {
  return load_u16(static_cast<const uint8_t*>(p) + i * 2);
}
inline float load_f32_at(const void* p, int64_t i) {
  return load_f32(static_cast<const uint8_t*>(p) + i * 4);
}

}  // namespace ollmlx
