// Helpers shared by the format tests: a self-deleting temp directory, raw safetensors byte
// builders (for corrupt files the writer would never produce) and small host tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ollmlx::format::testing {

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A safetensors file image: 8-byte little-endian length of `header`, `header`, `data_size` bytes.
std::vector<uint8_t> raw_safetensors(const std::string& header, size_t data_size);
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
void write_text(const std::string& path, const std::string& text);
std::vector<uint8_t> read_bytes(const std::string& path);

// Host tensors whose bytes are a deterministic function of `seed`.
Tensor filled_tensor(DType dtype, const Shape& shape, uint32_t seed);

}  // namespace ollmlx::format::testing
