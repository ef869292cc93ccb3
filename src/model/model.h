// A loaded model: architecture-specific weights plus a forward pass over a batch of sequences,
// written against the backend-neutral op interface (backend/backend.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace ollmlx {

struct ModelInfo {
  std::string architecture;  // config "model_type" as served (e.g. "llama")
  int64_t n_layers = 0;
  int64_t hidden = 0;
  int64_t vocab = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate = 0;
  int64_t context_length = 0;  // max_position_embeddings (0 if unknown)
  int64_t n_params = 0;        // unquantized parameter count
  uint64_t weight_bytes = 0;   // bytes of weight tensors in the files
  DType activation_dtype = DType::F32;
  // Set when the residual stream is kept in a narrower dtype than activation_dtype (gemma3 whose
  // embedding lookup returns float16: mlx-lm's clip_residual rounds the stream back to float16
  // while norms with float32 weights promote everything else to float32).
  std::optional<DType> residual_dtype;
  std::string quantization;    // "affine 4-bit g64", "bf16", "mixed" ...
  std::vector<int32_t> config_eos_ids;  // config.json eos_token_id (int or list), may be empty
  std::optional<int32_t> bos_id;
  // True when results depend on how a sequence is split into forward passes (dynamic NTK RoPE
  // recomputes its base from each pass's length, as mlx-lm does).
  bool pass_dependent = false;
};

// One forward pass: the tokens of several sequences (layout), and which rows need logits.
struct ForwardBatch {
  std::vector<int32_t> tokens;      // [rows]
  BatchLayout layout;               // finalize_layout() must have been called
  std::vector<int32_t> logit_rows;  // rows whose logits are returned, in this order
  // Return only the argmax of each of those rows (Logits::argmax; Logits::data stays empty):
  // greedy decoding, where a GPU backend then copies ids instead of [rows, vocab] floats.
  bool argmax_only = false;
  // With argmax_only, where Backend::supports_pipelined_decode(): do not wait for the ids. The
  // pass's evaluation is started and Logits::pending_ids holds its ids (Logits::argmax stays
  // empty): read them with Backend::read_ids, or feed them to the next pass as `token_ids` first.
  bool argmax_async = false;
  // Not empty: the backend samples each logit row itself (Backend::sample_rows, one entry per
  // row of logit_rows) and Logits::argmax holds the ids it picked; Logits::data stays empty.
  std::vector<RowSampling> sampling;
  // The input tokens as a backend tensor ([rows] I32: a previous argmax_async pass's
  // pending_ids) instead of `tokens`, which must then be empty: the next decode step is built
  // before the ids of the previous one have been read.
  Tensor token_ids;
};

struct Logits {
  int64_t rows = 0;
  int64_t vocab = 0;
  std::vector<float> data;  // [rows, vocab] (empty for an argmax_only pass)
  std::vector<int32_t> argmax;  // [rows], an argmax_only or sampling pass only
  Tensor pending_ids;           // [rows] I32 on the backend, an argmax_async pass only
  const float* row(int64_t i) const { return data.data() + i * vocab; }
};

struct ModelOptions {
  // Overrides the activation dtype inferred from the weights (e.g. F32 for a high-precision run).
  std::optional<DType> activation_dtype;
};

class Model {
 public:
  virtual ~Model() = default;
  const ModelInfo& info() const { return info_; }
  Backend& backend() const { return *backend_; }

  // KV cache layout this model needs (per-layer heads, head_dim, sliding windows).
  virtual KvCacheSpec kv_spec(int max_seqs, int max_context, int max_chunk) const = 0;
  // Runs the batch: appends its rows to the sequences' caches and writes logits of
  // batch.logit_rows. Throws Error("model", ...) on invalid input (token id out of range,
  // position not at the end of the cached history, context exceeded).
  virtual void forward(const ForwardBatch& batch, KvCache& cache, Logits& out) = 0;

 protected:
  explicit Model(Backend& backend) : backend_(&backend) {}
  ModelInfo info_;
  Backend* backend_;
};

// Loads the model in MLX directory `dir` for `backend`, choosing the architecture from
// config.json's model_type. Throws Error("model"/"config"/"weights"/...) on failure.
std::unique_ptr<Model> load_model(const std::string& dir, Backend& backend,
                                  const ModelOptions& options = {});

// Architectures this build can load ("llama", "mistral", ...).
std::vector<std::string> supported_architectures();

}  // namespace ollmlx
