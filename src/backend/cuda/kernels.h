// Launchers of the CUDA backend's kernels (compiled by nvcc in the k_*.cu files). Plain C++:
// included by the host code of the backend (cuda_backend.cpp, kv_cache.cpp), which is compiled
// by the C++ compiler. Every launcher enqueues on `stream` and returns at once; the caller checks
// cudaGetLastError() after it (a bad launch configuration), while faults inside a kernel surface
// at the next synchronisation (to_host).
//
// Activations are float32 [rows, features] on the device, rounded to the activation dtype `act`
// after each op, exactly as the CPU backend does (docs/ARCHITECTURE.md "Numerics").
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ollmlx::cuda {

// Element types of float tensors as the kernels see them.
enum class Dt : int { F32 = 0, F16 = 1, BF16 = 2, Q8 = 3 };  // Q8: KV caches only (below)

// The q8_0 KV cache layout (KvCacheSpec::q8_0): a head's row of head_dim values is
// ceil(head_dim / kQ8Block) blocks of a float32 scale d followed by kQ8Block int8 q (x ~ d * q).
constexpr int kQ8Block = 32;
constexpr int kQ8BlockBytes = 4 + kQ8Block;

// An MLX affine-quantized matrix [N, K] in device memory (file layout, core/linear.h).
struct QuantMatrix {
  const uint32_t* w = nullptr;  // [N, K*bits/32], or the tiled 4-bit layout (below)
  const void* scales = nullptr; // [N, K/group_size] of sdt
  const void* biases = nullptr; // [N, K/group_size] of sdt
  Dt sdt = Dt::BF16;
  int bits = 4;
  int group_size = 64;
  int64_t N = 0, K = 0;
  bool tiled = false;           // 4-bit weights repacked for the tensor-core GEMV (q4_tiled_*)
};

// The tiled 4-bit layout: the operand order of mma.m16n8k16, so a warp loads a 16-row x
// 64-column tile as one contiguous 512-byte block (16 bytes per lane) and turns each pair of
// nibbles into a bf16x2/f16x2 register with one LOP3. Rows are padded to a multiple of 16 (with
// q = 0); K must be a multiple of 64. Word ((tile * K/64 + kc) * 32 + lane) * 4 + j holds, for
// lane = 4g + c, k-step j (columns kc*64 + 16j + [0, 16)), rows r = tile*16 + g (h = 0) and
// r + 8 (h = 1): nibble (e & 1) * 4 + (e >> 1) * 2 + h = element (row, kc*64 + 16j + 4c + e).
// The mma's k-slots 2c, 2c+1, 2c+8, 2c+9 thus hold columns 4c .. 4c+3 of the k-step, in the same
// order as the x values a lane loads with one float4.
constexpr int64_t q4_tiled_words(int64_t N, int64_t K) { return (N + 15) / 16 * 16 * K / 8; }
// Repacks an MLX 4-bit matrix [N, K/8 words] (device) into the tiled layout (device).
void launch_repack_q4(const uint32_t* src, int64_t N, int64_t K, uint32_t* dst, cudaStream_t stream);
// Rows [n0, n0 + nr) of a tiled matrix (n0 a multiple of 16) to dst [nr, K] of dtype out.
void launch_dequant_q4_tiled(const QuantMatrix& m, int64_t n0, int64_t nr, void* dst, Dt out,
                             cudaStream_t stream);
// Tensor-core GEMV for tiled 4-bit weights, T <= kQ4mmaMaxRows tokens, activations BF16 or F16 (x holds
// values of that dtype, so the conversion for the mma is exact); float32 accumulation, per group
// scale * sum(x*q) + bias * sum(x) as the other kernels.
// `splits` blocks share each 16-row tile (q4mma_splits; > 1 for small N): they need `part`
// (q4mma_part_floats) and `counters` (tiles ints, zero; left zero after the launch).
constexpr int kQ4mmaMaxRows = 32;
constexpr int64_t q4mma_part_floats(int64_t tiles, int splits, int T) {
  return tiles * splits * 128 * (T <= 8 ? 1 : T <= 16 ? 2 : 4);
}
int q4mma_splits(const QuantMatrix& m, int num_sms);
void launch_qgemv_q4mma(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt,
                        Dt act, float* y, int splits, float* part, int* counters,
                        cudaStream_t stream);

// The same product for T <= kQ4decMaxRows tokens, tuned for decoding (k_q4dec.cu): 4 tiles per
// block sharing x staged in shared memory, loads batched. Up to kQ4decMaxJobs matrices of the
// same K, group size and parameter dtype (q/k/v, gate/up) in one launch, each to its own y.
// `part` (q4dec_part_floats) and `counters` (q4dec_counters ints, zero; left zero) are needed
// when q4dec_splits > 1.
constexpr int kQ4decMaxRows = 8;
constexpr int kQ4decMaxJobs = 4;
struct Q4DecJobs {
  QuantMatrix m[kQ4decMaxJobs];
  float* y[kQ4decMaxJobs] = {};
  const void* bias[kQ4decMaxJobs] = {};
  Dt bias_dt[kQ4decMaxJobs] = {};
  int rb_end[kQ4decMaxJobs] = {};  // filled by the launcher
  int n = 0;
  // Gated input: x is the gate and the product's input is round_act(act(x) * up) (EwOp::Silu /
  // GeluTanh), computed while x is staged. gate 0: x as it is.
  const float* up = nullptr;
  int gate = 0;  // 0 none, 1 silu, 2 gelu_tanh
};
bool q4dec_compatible(const Q4DecJobs& j);
int q4dec_splits(const Q4DecJobs& j, int num_sms);
int64_t q4dec_part_floats(const Q4DecJobs& j, int splits);
int64_t q4dec_counters(const Q4DecJobs& j);
void launch_qgemv_q4dec(Q4DecJobs j, const float* x, int T, Dt act, int num_sms, float* part,
                        int* counters, cudaStream_t stream);

// ---- linear (k_linear.cu) -------------------------------------------------------------------
// Fused dequantize-GEMV for T <= kGemvMaxRows tokens: y[T, N] = round_act(x W^T + bias), with
// per 32-element chunk scale * sum(x*q) + bias * sum(x) in float32 (MLX's formulation).
constexpr int kGemvMaxRows = 8;
void launch_qgemv(const QuantMatrix& m, const float* x, int T, const void* bias, Dt bias_dt,
                  Dt act, float* y, cudaStream_t stream);
// Dequantizes rows [n0, n0 + nr) of m into dst [nr, K] of dtype out (float32 scale*q + bias,
// rounded once to `out`, as MLX's tiled qmm does).
void launch_dequant_rows(const QuantMatrix& m, int64_t n0, int64_t nr, void* dst, Dt out,
                         cudaStream_t stream);
// dst[i] = convert(src[i]) for n elements (float types; rounding to nearest even).
void launch_convert(const void* src, Dt src_dt, void* dst, Dt dst_dt, int64_t n,
                    cudaStream_t stream);
// y[T, N] = round_act(y + bias) (bias may be null).
void launch_bias_round(float* y, int64_t T, int64_t N, const void* bias, Dt bias_dt, Dt act,
                       cudaStream_t stream);

// ---- small ops (k_ops.cu) ---------------------------------------------------------------------
// Embedding rows: dense table [vocab, D] of wdt, or quantized (m.w != null). Dequantized as
// round_c(round_c(scale*q) + bias) with c = `compute`, then rounded to act (bit-exact with the
// CPU backend).
void launch_embed(const QuantMatrix& qm, const void* dense, Dt wdt, int64_t D, const int32_t* ids,
                  int64_t n, Dt compute, Dt act, float* y, cudaStream_t stream);
// y = w * round_act(x * rsqrt(mean(x^2) + eps)), rounded to act; x, y [rows, dim], w [dim].
void launch_rms_norm(const float* x, int64_t rows, int64_t dim, const void* w, Dt wdt, float eps,
                     Dt act, float* y, cudaStream_t stream);

// sum = round_act(a + b) (as EwOp::Add), then y = rms_norm(sum) as launch_rms_norm, one pass.
void launch_add_rms_norm(const float* a, const float* b, int64_t rows, int64_t dim, const void* w,
                         Dt wdt, float eps, Dt act, float* sum, float* y, cudaStream_t stream);

enum class EwOp : int { Add = 0, Scale = 1, Softcap = 2, Silu = 3, GeluTanh = 4, AddClip = 5 };
// Add: a + b; Scale: a * s; Softcap: tanh(a / s) * s; Silu/GeluTanh: act(a) * b; AddClip:
// clamp(a + b, -s, s). Rounded to act.
void launch_elementwise(EwOp op, const float* a, const float* b, float s, int64_t n, Dt act,
                        float* y, cudaStream_t stream);

struct RopeArgs {
  const float* x = nullptr;
  float* y = nullptr;
  const int32_t* positions = nullptr;  // [rows]
  const int32_t* table_of_row = nullptr;  // [rows] index into inv_freq tables
  const float* inv_freq = nullptr;     // [tables][dims/2]
  int64_t rows = 0;
  int n_heads = 0, head_dim = 0, dims = 0;
  bool traditional = false;
  float position_scale = 1.0f, mscale = 1.0f;
  Dt act = Dt::F32;
};
void launch_rope(const RopeArgs& a, cudaStream_t stream);

// y[i] = x[rows[i]] for n rows of length D (no rounding: values are already rounded).
void launch_gather_rows(const float* x, int64_t D, const int32_t* rows, int64_t n, float* y,
                        cudaStream_t stream);

// ---- attention (k_attention.cu) -------------------------------------------------------------
// One sequence's cache storage in the layer being computed and its rows in the batch.
struct AttnSpan {
  const void* k = nullptr;  // [n_kv_heads][capacity][head_dim] of kv_dt
  const void* v = nullptr;
  void* k_w = nullptr;      // same storage, written by the KV append
  void* v_w = nullptr;
  int32_t capacity = 0;
  int32_t ring = 0;         // sliding-window layer: position p is stored at row p % capacity
  int32_t begin = 0;        // first row of the sequence in the batch
  int32_t count = 0;
  int32_t pos0 = 0;         // position of the first row
  int32_t pad = 0;
};

// A block of work: query rows [r0, r1) (batch rows) of span `span`, query heads [h0, h1) (all in
// kv group `kvh`), keys at positions [k0, k1). nsplit > 1: key range `split` of nsplit, written
// as partial results (combined by launch_attention_combine).
struct AttnItem {
  int32_t span, kvh, h0, h1, r0, r1, k0, k1, split, nsplit;
};

struct AttnArgs {
  const float* q = nullptr;  // [T, n_heads*head_dim]
  float* out = nullptr;      // [T, n_heads*head_dim]
  float* part = nullptr;     // partials [slots][n_heads][head_dim + 2] (acc, max, sum)
  const AttnSpan* spans = nullptr;
  const AttnItem* items = nullptr;
  const int32_t* row_part = nullptr;  // [T] first partial slot of a row (rows with nsplit > 1)
  int n_items = 0;
  int max_m = 0;  // largest (r1-r0)*(h1-h0) of any item: sizes the shared memory
  int n_heads = 0, head_dim = 0, window = 0;
  float scale = 1.0f, softcap = 0.0f;
  Dt kv_dt = Dt::F32, act = Dt::F32;
};
// Writes k/v [T, n_kv_heads*head_dim] of every batch row into its span's cache storage.
void launch_kv_append(const AttnSpan* spans, int n_spans, const float* k, const float* v,
                      int64_t T, int n_kv_heads, int head_dim, Dt kv_dt, cudaStream_t stream);
// Largest number of query vectors (rows x heads) one item may hold for this head_dim.
int attention_max_queries(int head_dim);
void launch_attention(const AttnArgs& a, cudaStream_t stream);
// Most key splits of one row.
constexpr int64_t kMaxAttnSplits = 256;
// For each entry (row, first partial slot, nsplit) of `rows` (3 ints each): combines the
// partials of all heads of that row into out, rounded to act.
void launch_attention_combine(const float* part, const int32_t* rows, int n_rows, int n_heads,
                              int head_dim, Dt act, float* out, cudaStream_t stream);

// out[r] = index of the largest logit of row r of x [rows, vocab] (the host argmax's semantics).
// Two stages over kArgmaxChunks chunks per row; scratch holds 2 * rows * kArgmaxChunks floats.
constexpr int64_t kArgmaxChunks = 32;
void launch_argmax_rows(const float* x, int64_t rows, int64_t vocab, int32_t* out, float* scratch,
                        cudaStream_t stream);

// One row's sampling on the device (k_sample.cu; Backend::sample_rows, backend/sampling.h).
struct SampleRow {
  float temperature = 0, inv_temperature = 0, top_p = 1, min_p = 0, log_min_p = 0;
  float repeat_penalty = 1, presence_penalty = 0, frequency_penalty = 0;
  int32_t top_k = 0, mlx_order = 1;
  int32_t counts_begin = 0, counts_end = 0;  // this row's (token, count) pairs in `counts`
  double u01 = 0;
};
// Device scratch launch_sample_rows needs for rows x vocab logits.
size_t sample_scratch_bytes(int64_t rows, int64_t vocab);
// out[r] = the token sampled from row r of x [rows, vocab] with params[r] (device memory, as are
// counts: pairs of int32). select_k in [1, kSampleSelectMax]: no row looks past its select_k best
// candidates (every row greedy or with top_k <= select_k), so those are selected instead of
// sorting the vocabulary; 0 sorts. Returns the first launch error.
constexpr int kSampleSelectMax = 1024;
cudaError_t launch_sample_rows(const float* x, int64_t rows, int64_t vocab, const SampleRow* params,
                               const int32_t* counts, int select_k, int32_t* out, void* scratch,
                               cudaStream_t stream);

}  // namespace ollmlx::cuda
