// Backend selection by name. Only backends compiled into this build are available.
#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"
#ifdef OLLMLX_HAVE_CUDA
#include "backend/cuda/cuda_factory.h"
#endif
#ifdef OLLMLX_HAVE_MLX
#include "backend/mlx/mlx_factory.h"
#endif

namespace ollmlx {

std::unique_ptr<Backend> create_backend(const std::string& name, int n_threads) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>(n_threads);
#ifdef OLLMLX_HAVE_CUDA
  if (name == "cuda") return cuda::make_cuda_backend();
#else
  if (name == "cuda")
    throw_error("backend", "this build has no CUDA backend (configure with -DOLLMLX_CUDA=ON where nvcc is installed)");
#endif
#ifdef OLLMLX_HAVE_MLX
  if (name == "mlx") return mlxb::make_mlx_backend(n_threads);
#else
  if (name == "mlx")
    throw_error("backend", "this build has no MLX backend (configure with -DOLLMLX_MLX=ON and MLX's CMake "
                "package, docs/MLX.md)");
#endif
  throw_error("backend", "unknown backend '{}' (available: {})", name, compiled_backends());
}

std::string default_backend_name() {
#ifdef OLLMLX_HAVE_CUDA
  if (cuda::cuda_device_available()) return "cuda";
#endif
#if defined(OLLMLX_HAVE_MLX) && defined(__APPLE__)
  return "mlx";  // Metal through MLX is the fastest engine on a Mac
#else
  return "cpu";
#endif
}

std::string compiled_backends() {
  std::string s = "cpu";
#ifdef OLLMLX_HAVE_CUDA
  s += ", cuda";
#endif
#ifdef OLLMLX_HAVE_MLX
  s += ", mlx (MLX " + mlxb::mlx_description() + ")";
#endif
  return s;
}

}  // namespace ollmlx
