// Tensors of the MLX backend: a Tensor whose owner is an ArrayHolder (an mx::array) and whose
// `data` is that holder -- an opaque, non-null pointer that only this backend dereferences.
// Private to src/backend/mlx.
#pragma once

#include <mlx/mlx.h>

#include <memory>

#include "core/tensor.h"

namespace ollmlx::mlxb {

namespace mx = ::mlx::core;

struct ArrayHolder {
  mx::array a;
};
// The owner's deleter type doubles as the tag that says "this Tensor is an MLX array"
// (std::get_deleter), so a host or foreign tensor is rejected without reading its memory.
struct ArrayHolderDeleter {
  void operator()(ArrayHolder* h) const { delete h; }
};

mx::Dtype to_mx(DType t);    // F32/F16/BF16/U8/U32/I32; throws Error("mlx") otherwise
DType from_mx(mx::Dtype t);  // the inverse; throws Error("mlx") for others
Tensor wrap(mx::array a);
// The array of an MLX tensor; throws Error("mlx", "<what>: ...") for any other tensor.
const mx::array& unwrap(const Tensor& t, const char* what);

}  // namespace ollmlx::mlxb
