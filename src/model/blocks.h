// Building blocks shared by the architecture files: attention with rotary embeddings and a KV
// cache, gated MLPs, the llama-style pre-norm block and Gemma's four-norm block, norm loading
// (plain and Gemma's 1 + w), fused-projection row views, config size checks, parameter/dtype
// statistics and the forward-pass bookkeeping of every decoder (DecoderModel).
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

// Sizes every decoder reads from its config (each architecture applies its own defaults and
// head_dim rule), validated by check_sizes.
struct Sizes {
  int64_t hidden = 0, layers = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
};
// Throws Error("config", "<file>: ...") when a size is non-positive or inconsistent (heads not a
// multiple of kv_heads, odd head_dim, absurdly many layers).
void check_sizes(const Sizes& s, const std::string& file);

// Float parameter dtypes (for infer_activation_dtype) and the parameter count of a model.
struct ParamStats {
  std::vector<DType> dtypes;
  int64_t count = 0;  // unquantized parameter count
  void add(const Linear& l);          // a linear layer (fp-mode U8 scales add no dtype)
  void add_embedding(const Linear& table);  // the lookup table: its table_dtype()
  void add(const Tensor& t);          // a float vector (norm weight)
};

// The llama-style pre-norm block (llama, mistral, qwen2, qwen3, phi3):
//   h += attn(attn_norm(h));  h += mlp(mlp_norm(h))
struct PreNormBlock {
  Tensor attn_norm, mlp_norm;  // input_layernorm, post_attention_layernorm [D]
  Attention attn;
  GatedMlp mlp;
  float eps = 1e-6f;
  Tensor forward(Backend& be, const Tensor& h, KvCache& cache, const BatchLayout& batch) const;
};

// Gemma's block with four norms (weights already 1 + w, see load_offset_norm):
//   h += post_attn_norm(attn(input_norm(h)));  h += post_ffn_norm(mlp(pre_ffn_norm(h)))
// `clip`: the residual stream is float16 (gemma3 whose embedding lookup returns float16): every
// residual add is computed in float32, clamped to +-65504 and rounded to float16, whatever the
// activation dtype of the other ops (mlx-lm's clip_residual casts back to the stream's dtype).
struct SandwichBlock {
  Tensor input_norm, post_attn_norm, pre_ffn_norm, post_ffn_norm;  // [D]
  Attention attn;
  GatedMlp mlp;
  float eps = 1e-6f;
  bool clip = false;
  Tensor forward(Backend& be, const Tensor& h, KvCache& cache, const BatchLayout& batch) const;
};

// Loads a float vector "<name>" of length `dim` (norm weights).
Tensor load_vector(const format::ModelDir& dir, Backend& be, const std::string& name, int64_t dim);
// Gemma's RMSNorm weight: MLX computes `1.0 + weight` in the weight's dtype (rounded to it) and
// normalises with that; a float32 run (`f32`) upcasts the weight first, so 1 + w stays exact.
Tensor load_offset_norm(const format::ModelDir& dir, Backend& be, const std::string& name,
                        int64_t dim, bool f32);
// Loads linear module `path` [out, in] onto the backend.
Linear load_linear(const format::ModelDir& dir, Backend& be, const std::string& path, int64_t out,
                   int64_t in);
// Output rows [begin, begin + count) of a host linear layer (one part of a fused projection such
// as phi3's qkv_proj): views of the weight, scales, biases and bias rows. Quantization groups run
// along the input dimension, so every row is self-contained and the part computes exactly the
// same values as the corresponding outputs of the fused layer.
Linear slice_rows(const Linear& l, int64_t begin, int64_t count, const std::string& name);
// Loads a fused projection `path` [sum(parts), in] and splits it into parts of `parts[i]` rows
// named "<path>[i]" (views, no copy).
std::vector<Linear> load_fused_linear(const format::ModelDir& dir, Backend& be, const std::string& path,
                                      const std::vector<int64_t>& parts, int64_t in);

// x rounded to F32 (unchanged), F16 or BF16.
float round_to_dtype(float x, DType dt);

// Activation dtype MLX would compute in for these weights: the promotion of every float
// parameter dtype (scales of quantized layers, dense weights, norms): all BF16 -> BF16, all F16
// -> F16, any mix or F32 -> F32.
DType infer_activation_dtype(const std::vector<DType>& param_dtypes);
std::vector<DType> param_dtypes(const Linear& l);
// The dtype MLX evaluates a lookup in this table in: its scales' dtype if quantized, else its own.
DType table_dtype(const Linear& table);
// The dtype a model's embedding lookup returns: table_dtype, or the explicit activation dtype of
// an upcast run (every float parameter converted) -- except for mxfp4/mxfp8/nvfp4 tables, whose
// U8 scales are not converted, so mx.dequantize still returns bfloat16.
DType lookup_dtype(const Linear& table, const ModelOptions& opt);

// Checks a batch against the model and cache: token ids in [0, vocab), each sequence starts at or
// before the end of its cached history, stays within the cache's context, logit rows valid.
void validate_batch(const ForwardBatch& batch, const KvCache& cache, int64_t vocab);
// The embedding rows of a batch's tokens: Backend::embed of its host tokens, or embed_ids of its
// token_ids (a pipelined decode step).
Tensor embed_tokens(Backend& be, const Linear& table, const ForwardBatch& batch, DType compute);
// After a successful pass: records the new history lengths.
void commit_batch(const ForwardBatch& batch, KvCache& cache);

// config.json "eos_token_id" (int or list of ints), or empty.
std::vector<int32_t> config_eos_ids(const nlohmann::json& cfg);

// "layer_types" of a config ("sliding_attention" -> sliding_window, "full_attention" -> 0), or
// all zeros when absent (mlx-lm ignores a bare top-level sliding_window).
std::vector<int> layer_windows(const nlohmann::json& cfg, int64_t n_layers, const std::string& file);

// Base of the decoder-only architectures: the KV-cache layout from the layers' attention
// parameters, and the bookkeeping at the start and end of every forward pass.
class DecoderModel : public Model {
 public:
  KvCacheSpec kv_spec(int max_seqs, int max_context, int max_chunk) const override;

 protected:
  explicit DecoderModel(Backend& be) : Model(be) {}
  // Validates the batch, sets the activation dtype and starts the backend pass.
  void begin_forward(const ForwardBatch& batch, const KvCache& cache);
  // Copies logits [logit rows, vocab] to `out` and records the sequences' new lengths.
  void end_forward(const Tensor& logits, const ForwardBatch& batch, KvCache& cache, Logits& out);
  // Fills the ModelInfo fields every architecture shares (architecture = model_type).
  void set_info(const format::ModelDir& dir, const nlohmann::json& cfg, const Sizes& s,
                const ParamStats& stats, const ModelOptions& opt, int64_t context_length);
  // One entry per layer, in order (n_kv_heads, head_dim, window).
  std::vector<KvLayerSpec> kv_layers_;
};

}  // namespace ollmlx::blocks
