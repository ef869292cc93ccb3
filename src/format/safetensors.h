// Reader for the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data region. Tensors are views on a read-only memory mapping (no copy).
// Every header is treated as hostile: all lengths, offsets, shapes and dtypes are validated and
// a violation throws Error("safetensors", "<file>: tensor '<name>' ...") -- never a crash or an
// out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "util/mapped_file.h"

namespace ollmlx::format {

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data region
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::map<std::string, TensorEntry> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__" (string values only)
  uint64_t data_start = 0;                      // 8 + header length
};

// `text` read from an untrusted file, with control characters escaped (\xNN) so that error
// messages stay one readable line and are not cut at a NUL.
std::string printable(std::string_view text);

// Parses and validates the header of a safetensors file held in memory (`size` bytes, the whole
// file). `display_name` names the file in error messages. Checks: size >= 8; header length fits;
// header is a JSON object; each entry has a known dtype, non-negative shape whose element count
// times dtype size equals end - begin (no overflow), begin <= end <= data size; entries do not
// overlap. Used by SafetensorsFile::open and by the fuzz target.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size,
                                           const std::string& display_name);

class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  const TensorEntry* find(const std::string& name) const;
  // A Tensor viewing the entry's bytes in the mapping (owner keeps the mapping alive).
  Tensor view(const TensorEntry& e) const;
  // Hints the kernel to read the whole data region ahead (first-token latency).
  void prefetch() const;

 private:
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
};

// Writes a safetensors file (used by tests and tools; tensors in the given order, data packed).
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ollmlx::format
