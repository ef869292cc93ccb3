// The backend-neutral op interface. Model code (src/model) is written once against it; each
// backend (cpu, later cuda and mlx) implements it in its own folder. Activation tensors are
// produced by the ops themselves (functional style); their memory is owned by the Tensor (its
// `owner`) and recycled by the backend once the last reference is gone.
//
// Conventions (T = rows of the batch):
//   activations are 2-D [T, features]; multi-head tensors are [T, heads*head_dim] with head h
//   occupying columns [h*head_dim, (h+1)*head_dim).
//   The backend computes in float32 and rounds each op's output to the activation dtype
//   (set_activation_dtype; bf16/f16 models round as MLX does at every op boundary).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/batch.h"
#include "backend/kv_cache.h"
#include "backend/rope_spec.h"
#include "backend/sampling.h"
#include "core/linear.h"
#include "core/tensor.h"
#include "util/argmax.h"
#include "util/error.h"

namespace ollmlx {

struct AttentionParams {
  int layer = 0;        // KV-cache layer index
  int n_heads = 0;      // query heads
  int n_kv_heads = 0;   // key/value heads (n_heads % n_kv_heads == 0)
  int head_dim = 0;
  float scale = 1.0f;   // multiplies q.k
  int window = 0;       // 0 = full causal; >0 = sliding window (query i sees keys i-window < j <= i)
  float softcap = 0.0f; // >0: scores = tanh(scores/softcap)*softcap (gemma2)
};

enum class Activation { Silu, GeluTanh };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Whether the weights and KV cache live in accelerator memory (/api/ps reports them as
  // size_vram): the cpu backend does not, nor does mlx on a CPU device.
  virtual bool uses_device_memory() const { return name() != "cpu"; }

  // ---- weights --------------------------------------------------------------------------
  // Prepares a linear layer whose tensors are host views (usually on a memory-mapped file) for
  // this backend; validates shapes (validate_linear). The cpu backend uses the memory as is.
  virtual Linear load_linear(const Linear& host) = 0;
  // Prepares a 1-D/2-D float tensor (norm weights, biases).
  virtual Tensor load_tensor(const Tensor& host) = 0;

  // ---- per pass -------------------------------------------------------------------------
  virtual void set_activation_dtype(DType dtype) = 0;
  virtual DType activation_dtype() const = 0;
  // Starts a forward pass (a hook for backends that keep per-pass state).
  virtual void begin_pass() = 0;
  // Starts a model's forward pass over `batch`, of which `logit_rows` rows get logits; the model
  // calls it instead of begin_pass. A backend may key recorded work on it: the cuda backend
  // replays a decode pass it has seen with the same layout shape as one CUDA graph.
  virtual void begin_forward_pass(const BatchLayout& batch, size_t logit_rows) {
    (void)batch;
    (void)logit_rows;
    begin_pass();
  }
  // Gives cached scratch memory back to the system; the engine calls it when it goes idle so a
  // burst of concurrent requests does not leave the process larger than before.
  virtual void release_cached_memory() {}
  virtual std::unique_ptr<KvCache> create_kv_cache(const KvCacheSpec& spec) = 0;
  // Tests: fill every new activation buffer with NaN so an op that leaves an element unwritten
  // is caught.
  virtual void set_debug_poison(bool on) = 0;

  // ---- ops ------------------------------------------------------------------------------
  // Rows `ids` of an embedding table (dense or quantized, [vocab, D]) -> [T, D]. `compute` is the
  // dtype the lookup is evaluated in: MLX dequantizes in the table's dtype (scale*q rounded, then
  // + bias rounded) and returns rows of that dtype; an upcast (float32) run passes F32.
  virtual Tensor embed(const Linear& table, const std::vector<int32_t>& ids, DType compute) = 0;
  // x [T, K] -> x W^T (+ bias) [T, N].
  virtual Tensor linear(const Tensor& x, const Linear& w) = 0;
  // x [T, K] through several layers of the same input size (q/k/v, gate/up): exactly linear()
  // of each; a backend may run them as one launch.
  virtual std::vector<Tensor> linear_multi(const Tensor& x, const std::vector<const Linear*>& ws) {
    std::vector<Tensor> out;
    out.reserve(ws.size());
    for (const Linear* w : ws) out.push_back(linear(x, *w));
    return out;
  }
  // RMSNorm over the last dim: w * (x * rsqrt(mean(x^2) + eps)); x [T, D], w [D].
  virtual Tensor rms_norm(const Tensor& x, const Tensor& w, float eps) = 0;
  // The residual add and the norm after it: {s = add(a, b), rms_norm(s, w, eps)}, exactly those
  // two ops; a backend may fuse them.
  struct SumAndNorm {
    Tensor sum, norm;
  };
  virtual SumAndNorm add_rms_norm(const Tensor& a, const Tensor& b, const Tensor& w, float eps) {
    Tensor s = add(a, b);
    Tensor n = rms_norm(s, w, eps);
    return {std::move(s), std::move(n)};
  }
  // Same norm applied to each head_dim-sized slice of x [T, H*head_dim] (qwen3/gemma3 q/k norms).
  virtual Tensor rms_norm_heads(const Tensor& x, const Tensor& w, float eps, int head_dim) = 0;
  virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
  // a + b computed in float32 and clamped to [-bound, bound] before the rounding to the activation
  // dtype (gemma3's clip_residual keeps float16 residual streams finite). Backends that do not
  // implement it throw Error("backend").
  virtual Tensor add_clipped(const Tensor& /*a*/, const Tensor& /*b*/, float /*bound*/) {
    throw_error("backend", "{}: add_clipped (float16 gemma3 residuals) is not implemented", name());
  }
  virtual Tensor scale(const Tensor& x, float s) = 0;
  // act(gate) * up, elementwise; gate/up [T, F].
  virtual Tensor gated_act(const Tensor& gate, const Tensor& up, Activation act) = 0;
  // linear(gated_act(gate, up, act), w): the MLP's down projection of its gated activation,
  // exactly those two ops; a backend may compute the activation as it reads the input. Taken by
  // value: a caller that moves its tensors in lets their buffers go before the product's.
  virtual Tensor linear_gated(Tensor gate, Tensor up, Activation act, const Linear& w) {
    Tensor a = gated_act(gate, up, act);
    gate = Tensor();
    up = Tensor();
    return linear(a, w);
  }
  // tanh(x / cap) * cap.
  virtual Tensor softcap(const Tensor& x, float cap) = 0;
  // Rotary embedding of x [T, n_heads*head_dim] at the rows' positions.
  virtual Tensor rope(const Tensor& x, int n_heads, int head_dim, const BatchLayout& batch,
                      const RopeSpec& spec) = 0;
  // Appends k/v [T, n_kv_heads*head_dim] to the cache at the rows' positions, then causal (or
  // sliding-window) attention of q [T, n_heads*head_dim] per sequence -> [T, n_heads*head_dim].
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                           const BatchLayout& batch, const AttentionParams& p) = 0;
  // Rows `rows` of x -> [rows.size(), D].
  virtual Tensor gather_rows(const Tensor& x, const std::vector<int32_t>& rows) = 0;
  // Copies a tensor to host float32.
  virtual void to_host(const Tensor& x, std::vector<float>& out) = 0;
  // The index of the largest value of every row of x [rows, n] (NaN skipped, ties to the lowest
  // index, as sample/sampler.h's argmax), ending the pass like to_host. Greedy decoding needs
  // only these ids; a GPU backend computes them on the device and copies rows ints, not floats.
  virtual std::vector<int32_t> argmax_rows(const Tensor& x) {
    std::vector<float> host;
    to_host(x, host);
    const int64_t rows = x.dim(0), n = x.dim(1);
    std::vector<int32_t> ids(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) ids[static_cast<size_t>(r)] = argmax_f32(host.data() + r * n, n);
    return ids;
  }

  // ---- sampling on the backend (optional) --------------------------------------------------
  // A GPU backend can apply penalties, filters and the draw of sample/sampler.h to each row of x
  // [rows, vocab] itself and copy only the ids (ending the pass like to_host). The engine uses
  // sample_rows only where this returns true; the default throws Error("backend").
  virtual bool supports_sampling() const { return false; }
  virtual std::vector<int32_t> sample_rows(const Tensor& /*x*/, const std::vector<RowSampling>& /*rows*/) {
    throw_error("backend", "{}: sampling on the backend is not supported", name());
  }

  // ---- pipelined greedy decoding (optional) -----------------------------------------------
  // A lazy backend (mlx) can start evaluating a decode pass, build the next pass on the ids the
  // first one picks while it runs, and only then read those ids (mlx-lm's generate loop with
  // async_eval). The engine uses the three ops below only where this returns true; the defaults
  // throw Error("backend").
  virtual bool supports_pipelined_decode() const { return false; }
  // argmax_rows without the wait: the ids ([rows] I32, the same values argmax_rows gives) as a
  // tensor of this backend whose evaluation, together with everything the pass wrote to the KV
  // cache, has been started. Ends the pass like to_host. The tensor can be read with read_ids
  // and used as the input of a later pass (embed_ids) before that.
  virtual Tensor argmax_rows_async(const Tensor& /*x*/) {
    throw_error("backend", "{}: pipelined decoding (argmax_rows_async) is not supported", name());
  }
  // Waits for ids from argmax_rows_async and copies them to the host.
  virtual std::vector<int32_t> read_ids(const Tensor& /*ids*/) {
    throw_error("backend", "{}: pipelined decoding (read_ids) is not supported", name());
  }
  // embed() with the ids given as a tensor of this backend ([T] I32, from argmax_rows_async):
  // the host never sees them, so ids outside [0, table.out) are clamped into it.
  virtual Tensor embed_ids(const Linear& /*table*/, const Tensor& /*ids*/, DType /*compute*/) {
    throw_error("backend", "{}: pipelined decoding (embed_ids) is not supported", name());
  }
};

// Creates a backend by name ("cpu"; others when built). Throws Error("backend") if unknown.
std::unique_ptr<Backend> create_backend(const std::string& name, int n_threads = 0);
// The backend to use when none is asked for: "cuda" when this build has it and a device is
// present, else "mlx" on macOS when this build has it, else "cpu".
std::string default_backend_name();
// The backends of this build, e.g. "cpu, cuda, mlx (MLX 0.32.4 (cpu))" (ollmlx --version).
std::string compiled_backends();

}  // namespace ollmlx
