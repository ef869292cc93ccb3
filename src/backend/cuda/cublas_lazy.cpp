// Loads libcublas on first use (cublas_lazy.h).
#include "backend/cuda/cublas_lazy.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "util/error.h"

namespace ollmlx::cuda {
namespace {

template <typename F>
void bind(void* lib, const char* name, F& fn, const std::string& from) {
  void* sym = dlsym(lib, name);
  if (!sym) throw_error("cuda", "{} has no symbol {} ({})", from, name, dlerror());
  fn = reinterpret_cast<F>(sym);
}

CublasApi load() {
  // The soname of the toolkit ollmlx was built with, then the unversioned name; last, the
  // toolkit's library folder of the build machine (OLLMLX_CUBLAS_DIR).
  std::string tried;
  void* lib = nullptr;
  std::string from;
  for (std::string name : {std::string("libcublas.so.") + std::to_string(CUBLAS_VER_MAJOR),
                           std::string("libcublas.so"),
#ifdef OLLMLX_CUBLAS_DIR
                           std::string(OLLMLX_CUBLAS_DIR) + "/libcublas.so." + std::to_string(CUBLAS_VER_MAJOR)
#endif
       }) {
    lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      from = name;
      break;
    }
    tried += (tried.empty() ? "" : "; ") + name + ": " + dlerror();
  }
  if (!lib) throw_error("cuda", "cannot load cuBLAS ({})", tried);
  CublasApi a;
  bind(lib, "cublasCreate_v2", a.create, from);
  bind(lib, "cublasDestroy_v2", a.destroy, from);
  bind(lib, "cublasSetStream_v2", a.set_stream, from);
  bind(lib, "cublasSetWorkspace_v2", a.set_workspace, from);
  bind(lib, "cublasGemmEx", a.gemm_ex, from);
  bind(lib, "cublasGetStatusString", a.status_string, from);
  return a;  // the library stays loaded for the life of the process
}

}  // namespace

const CublasApi& cublas() {
  static std::once_flag once;
  static CublasApi api;
  static std::string error;
  std::call_once(once, [] {
    try {
      api = load();
    } catch (const Error& e) {
      error = e.what();
    }
  });
  if (!api.create) throw Error("cuda", error.substr(error.find("] ") == std::string::npos ? 0 : error.find("] ") + 2));
  return api;
}

}  // namespace ollmlx::cuda
