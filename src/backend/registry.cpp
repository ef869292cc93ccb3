// Backend selection by name. Only backends compiled into this build are available.
#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"

namespace ollmlx {

std::unique_ptr<Backend> create_backend(const std::string& name, int n_threads) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>(n_threads);
  throw_error("backend", "unknown or not compiled backend '{}' (available: cpu)", name);
}

}  // namespace ollmlx
