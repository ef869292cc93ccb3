// Building blocks shared by the architecture files: attention with rotary embeddings and a KV
// cache, gated MLPs, norm loading, config parsing helpers and forward-pass bookkeeping.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "format/model_dir.h"
#include "model/model.h"

namespace ollmlx::blocks {

struct Attention {
  Linear q, k, v, o;      // q [H*hd, D], k/v [KV*hd, D], o [D, H*hd]
  Tensor q_norm, k_norm;  // optional per-head RMSNorm weights [hd] (qwen3, gemma3)
  float norm_eps = 1e-6f;
  AttentionParams params;  // heads, head_dim, scale, window, softcap
  RopeSpec rope;

  // x [T, D] -> attention output projected back to [T, D].
  Tensor forward(Backend& be, const Tensor& x, KvCache& cache, const BatchLayout& batch) const;
};

struct GatedMlp {
  Linear gate, up, down;  // gate/up [F, D], down [D, F]
  Activation act = Activation::Silu;
  Tensor forward(Backend& be, const Tensor& x) const;  // x [T, D] -> [T, D]
};

// Loads a float vector "<name>" of length `dim` (norm weights).
Tensor load_vector(const format::ModelDir& dir, Backend& be, const std::string& name, int64_t dim);
// Loads linear module `path` [out, in] onto the backend.
Linear load_linear(const format::ModelDir& dir, Backend& be, const std::string& path, int64_t out,
                   int64_t in);

// Activation dtype MLX would compute in for these weights: the promotion of every float
// parameter dtype (scales of quantized layers, dense weights, norms): all BF16 -> BF16, all F16
// -> F16, any mix or F32 -> F32.
DType infer_activation_dtype(const std::vector<DType>& param_dtypes);
std::vector<DType> param_dtypes(const Linear& l);
// The dtype MLX evaluates a lookup in this table in: its scales' dtype if quantized, else its own.
DType table_dtype(const Linear& table);

// Checks a batch against the model and cache: token ids in [0, vocab), each sequence starts at or
// before the end of its cached history, stays within the cache's context, logit rows valid.
void validate_batch(const ForwardBatch& batch, const KvCache& cache, int64_t vocab);
// After a successful pass: records the new history lengths.
void commit_batch(const ForwardBatch& batch, KvCache& cache);

// config.json "eos_token_id" (int or list of ints), or empty.
std::vector<int32_t> config_eos_ids(const nlohmann::json& cfg);

}  // namespace ollmlx::blocks
