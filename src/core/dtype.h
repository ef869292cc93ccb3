// Element types of tensors in model files and in backends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ollmlx {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F64,
  U8,
  I8,
  U16,
  I16,
  U32,
  I32,
  U64,
  I64,
  Bool,
  F8_E4M3,
  F8_E5M2,
};

// Bytes per element.
size_t dtype_size(DType t);
// Name as written in safetensors headers ("F32", "BF16", "U32", ...).
std::string_view dtype_name(DType t);
// Parses a safetensors dtype name; nullopt if unknown.
std::optional<DType> parse_dtype(std::string_view name);
inline bool is_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64;
}

}  // namespace ollmlx
