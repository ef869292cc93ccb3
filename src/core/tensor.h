// Tensor: a typed, shaped view on memory that someone else owns (a memory-mapped weight file, a
// backend buffer, a host vector). `owner` keeps that memory alive; `data` points at element 0.
// Row-major, contiguous. Backends decide where `data` lives (host for cpu, device for cuda).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ollmlx {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3]"

struct Tensor {
  DType dtype = DType::F32;
  Shape shape;
  void* data = nullptr;
  std::shared_ptr<const void> owner;

  bool empty() const { return data == nullptr && !owner; }
  int rank() const { return static_cast<int>(shape.size()); }
  // Dimension i; negative i counts from the end (-1 = last).
  int64_t dim(int i) const { return shape[static_cast<size_t>(i < 0 ? rank() + i : i)]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
};

// A host tensor that owns its storage (tests, small tables, results copied off a device).
Tensor make_host_tensor(DType dtype, Shape shape);

}  // namespace ollmlx
