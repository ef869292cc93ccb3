// Reading one element of an MLX affine-quantized row: a little-endian bit stream in which element
// k occupies bits [k*bits, (k+1)*bits), LSB first, crossing uint32 words for 3/5/6 bits
// (mlx-format.md §1.5). Rows may be misaligned in the file, hence unaligned loads.
#pragma once

#include <cstdint>

#include "util/unaligned.h"

namespace ollmlx::cpu {

inline uint32_t packed_element(const void* row, int64_t k, int bits) {
  const uint64_t p = static_cast<uint64_t>(k) * static_cast<uint64_t>(bits);
  const uint64_t wi = p >> 5, off = p & 31;
  uint64_t v = load_u32_at(row, static_cast<int64_t>(wi)) >> off;
  if (off + static_cast<uint64_t>(bits) > 32)
    v |= static_cast<uint64_t>(load_u32_at(row, static_cast<int64_t>(wi) + 1)) << (32 - off);
  return static_cast<uint32_t>(v) & ((1u << bits) - 1u);
}

}  // namespace ollmlx::cpu
