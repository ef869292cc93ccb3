// Backend selection by name. Only backends compiled into this build are available.
#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"
#ifdef OLLMLX_HAVE_CUDA
#include "backend/cuda/cuda_factory.h"
#endif

namespace ollmlx {

std::unique_ptr<Backend> create_backend(const std::string& name, int n_threads) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>(n_threads);
#ifdef OLLMLX_HAVE_CUDA
  if (name == "cuda") return cuda::make_cuda_backend();
  throw_error("backend", "unknown backend '{}' (available: cpu, cuda)", name);
#else
  if (name == "cuda")
    throw_error("backend", "this build has no CUDA backend (configure with -DOLLMLX_CUDA=ON where nvcc is installed)");
  throw_error("backend", "unknown or not compiled backend '{}' (available: cpu)", name);
#endif
}

std::string default_backend_name() {
#ifdef OLLMLX_HAVE_CUDA
  if (cuda::cuda_device_available()) return "cuda";
#endif
  return "cpu";
}

}  // namespace ollmlx
