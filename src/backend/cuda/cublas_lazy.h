// cuBLAS, loaded when the first CUDA backend is created (dlopen) instead of at program start:
// linking libcublas and libcublasLt makes every ollmlx process, GPU or not, pay for their
// relocations (about 210 MB of resident memory for `ollmlx --help`).
#pragma once

#include <cublas_v2.h>

namespace ollmlx::cuda {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;
  cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t) = nullptr;
  cublasStatus_t (*set_workspace)(cublasHandle_t, void*, size_t) = nullptr;
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                            int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                            cublasGemmAlgo_t) = nullptr;
  const char* (*status_string)(cublasStatus_t) = nullptr;
};

// The loaded library's entry points (loaded once, thread-safe). Throws Error("cuda") naming the
// library and dlerror() when it cannot be loaded or lacks a symbol.
const CublasApi& cublas();

}  // namespace ollmlx::cuda
