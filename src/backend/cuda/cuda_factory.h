// Entry points of the CUDA backend for the backend registry (plain C++, no CUDA headers).
// Only compiled when the build has CUDA (OLLMLX_HAVE_CUDA).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace ollmlx::cuda {

// A backend on CUDA device `device` (OLLMLX_CUDA_DEVICE, default 0). Throws Error("cuda") when
// no usable device is present.
std::unique_ptr<Backend> make_cuda_backend();
// True when a CUDA device can be used; otherwise `why` (if given) says why not.
bool cuda_device_available(std::string* why = nullptr);
// Decode passes launched as a replayed or freshly recorded CUDA graph by `backend` (a cuda
// backend; 0 for any other): tests and benchmarks check that graphs are really used.
uint64_t cuda_graph_launches(const Backend& backend);

}  // namespace ollmlx::cuda
