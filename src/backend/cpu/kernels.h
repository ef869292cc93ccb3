// The CPU backend's kernels. All activations are float32, row-major, contiguous; weights are
// used in their file layout (core/linear.h) straight from the memory mapping. Each kernel
// splits its work over the thread pool. `act` is the activation dtype being emulated: outputs are
// rounded to it (F32 = no rounding), see round_to().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "util/thread_pool.h"

namespace ollmlx::cpu {

// Rounds x[0..n) to the nearest value of `act` (BF16 or F16; F32 leaves x unchanged).
void round_to(DType act, float* x, int64_t n);

// Reads element i of a 1-D float tensor (F32/F16/BF16) as float.
float load_float(const Tensor& t, int64_t i);
// Converts n elements of a float tensor (F32/F16/BF16) starting at element `offset` to float.
void to_f32(const Tensor& t, int64_t offset, int64_t n, float* out);

// y[T, N] = x[T, K] W^T (+ bias), W dense or affine-quantized (any bits/group size/scale dtype).
// Computes per group scale*sum(x*q) + bias*sum(x) in float32 (MLX's Metal formulation).
// Scratch memory for a kernel's temporaries (the backend's activation pool: a prefill's copy of
// x reuses a buffer freed just before instead of growing the heap at the peak).
using ScratchFn = std::function<std::shared_ptr<float>(int64_t n_floats)>;

void linear(ThreadPool& pool, const float* x, int64_t T, const Linear& w, float* y,
            const ScratchFn* scratch = nullptr);
// ys[i] = linear(x, *ws[i]) for layers of the same input size, exactly (the same operations per
// output element); decode steps run all of them in one parallel region.
void linear_multi(ThreadPool& pool, const float* x, int64_t T, const std::vector<const Linear*>& ws,
                  const std::vector<float*>& ys, const ScratchFn* scratch = nullptr);

// y[T, D] = rows ids of the table, dequantized as scale*q + bias with the product and the sum
// each rounded to `compute` (F32: plain float32 arithmetic). Throws Error("embed") for an id
// outside [0, vocab).
void embed(ThreadPool& pool, const Linear& table, const std::vector<int32_t>& ids, DType compute,
           float* y);

// y = w * round_act(x * rsqrt(mean(x^2) + eps)) per row of length dim (x, y [rows, dim]).
void rms_norm(ThreadPool& pool, const float* x, int64_t rows, int64_t dim, const Tensor& w,
              float eps, DType act, float* y);

// In-place rotary embedding of x [T, n_heads*head_dim] (RopeSpec in backend/rope_spec.h).
void rope(ThreadPool& pool, float* x, int n_heads, int head_dim, const BatchLayout& batch,
          const RopeSpec& spec);

// out = act(gate) * up (SiLU: g*sigmoid(g); GeluTanh: 0.5g(1+tanh(sqrt(2/pi)(g+0.044715g^3)))).
void gated_act(ThreadPool& pool, const float* gate, const float* up, int64_t n, Activation act,
               float* out);

// The cpu backend's KV cache: per slot and layer, keys and values stored in spec.dtype
// (F32/F16/BF16) as [n_kv_heads][capacity][head_dim]. Full layers grow in steps of 256
// positions up to max_context; sliding layers are rings of window + max_chunk positions.
class CpuKvCache;
std::unique_ptr<KvCache> make_kv_cache(const KvCacheSpec& spec);

// Writes k/v rows into the cache, then attention per sequence (see Backend::attention).
// q, out [T, n_heads*head_dim]; k, v [T, n_kv_heads*head_dim]. Softmax in float32.
void attention(ThreadPool& pool, const float* q, const float* k, const float* v, KvCache& cache,
               const BatchLayout& batch, const AttentionParams& p, float* out);

}  // namespace ollmlx::cpu
