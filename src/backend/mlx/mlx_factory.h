// The MLX backend (docs/MLX.md): the op interface of backend/backend.h on Apple's MLX, linked as
// a C++ library (Metal on Apple Silicon, CPU or CUDA on Linux, whatever the linked libmlx has).
// Only this header is visible outside src/backend/mlx; it does not include MLX's headers.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"

namespace ollmlx::mlxb {

// Creates the backend on MLX's default device. Throws Error("mlx") when MLX cannot start.
std::unique_ptr<Backend> make_mlx_backend(int n_threads);
// "0.32.4 (cpu)": the linked MLX's version and default device.
std::string mlx_description();
// True when MLX's default device is a GPU (Metal, or CUDA in an mlx[cuda] build).
bool mlx_gpu_default();

// Tests: the address of the memory an MLX tensor's array uses (evaluates it first), so a test
// can tell whether a loaded weight aliases its host memory. Throws Error("mlx") for a tensor that
// is not an MLX array.
const void* mlx_array_data(const Tensor& t);

}  // namespace ollmlx::mlxb
