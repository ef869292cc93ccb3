#include "core/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>

#include "util/error.h"

namespace ollmlx {

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

Tensor make_host_tensor(DType dtype, Shape shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  for (int64_t d : t.shape)
    if (d < 0) throw_error("tensor", "negative dimension in shape {}", shape_str(t.shape));
  size_t bytes = t.nbytes();
  // 64-byte alignment so SIMD kernels may use aligned loads on host tensors.
  size_t alloc = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, alloc == 0 ? 64 : alloc);
  if (!p) throw_error("tensor", "out of memory allocating {} bytes", bytes);
  t.data = p;
  t.owner = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  return t;
}

}  // namespace ollmlx
