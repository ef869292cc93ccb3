// A read-only memory mapping of a whole file. Model weights are used straight from the mapping
// (no copy), so the mapping must outlive every tensor view into it; hold it by shared_ptr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ollmlx {

class MappedFile {
 public:
  // Maps `path` read-only. Throws Error("io", ...) if it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Hints the kernel to read ahead the range (weights are touched sequentially on first use).
  void advise_willneed(size_t offset, size_t length) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ollmlx
