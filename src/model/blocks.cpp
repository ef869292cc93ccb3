#include "model/blocks.h"

#include <set>

#include "util/error.h"

namespace ollmlx::blocks {

Tensor Attention::forward(Backend& be, const Tensor& x, KvCache& cache,
                          const BatchLayout& batch) const {
  const int H = params.n_heads, KV = params.n_kv_heads, hd = params.head_dim;
  Tensor qt = be.linear(x, q);  // [T, H*hd]
  Tensor kt = be.linear(x, k);  // [T, KV*hd]
  Tensor vt = be.linear(x, v);  // [T, KV*hd]
  if (!q_norm.empty()) qt = be.rms_norm_heads(qt, q_norm, norm_eps, hd);
  if (!k_norm.empty()) kt = be.rms_norm_heads(kt, k_norm, norm_eps, hd);
  qt = be.rope(qt, H, hd, batch, rope);
  kt = be.rope(kt, KV, hd, batch, rope);
  Tensor a = be.attention(qt, kt, vt, cache, batch, params);  // [T, H*hd]
  return be.linear(a, o);
}

Tensor GatedMlp::forward(Backend& be, const Tensor& x) const {
  Tensor g = be.linear(x, gate);  // [T, F]
  Tensor u = be.linear(x, up);    // [T, F]
  return be.linear(be.gated_act(g, u, act), down);
}

Tensor load_vector(const format::ModelDir& dir, Backend& be, const std::string& name, int64_t dim) {
  Tensor t = dir.weights().get(name, {dim});
  if (!is_float(t.dtype) || t.dtype == DType::F64)
    throw_error("weights", "{}: tensor '{}' must be F32, F16 or BF16, found {}", dir.path(), name,
                dtype_name(t.dtype));
  return be.load_tensor(t);
}

Linear load_linear(const format::ModelDir& dir, Backend& be, const std::string& path, int64_t out,
                   int64_t in) {
  return be.load_linear(dir.linear(path, out, in));
}

std::vector<DType> param_dtypes(const Linear& l) {
  std::vector<DType> d;
  if (l.quantized())
    d.push_back(l.scales.dtype);
  else
    d.push_back(l.weight.dtype);
  if (l.has_bias()) d.push_back(l.bias.dtype);
  return d;
}

DType table_dtype(const Linear& table) {
  return table.quantized() ? table.scales.dtype : table.weight.dtype;
}

DType infer_activation_dtype(const std::vector<DType>& param_dtypes) {
  std::set<DType> kinds(param_dtypes.begin(), param_dtypes.end());
  if (kinds.size() == 1 && (*kinds.begin() == DType::BF16 || *kinds.begin() == DType::F16))
    return *kinds.begin();
  return DType::F32;
}

void validate_batch(const ForwardBatch& batch, const KvCache& cache, int64_t vocab) {
  const auto& L = batch.layout;
  if (static_cast<int64_t>(batch.tokens.size()) != L.rows())
    throw_error("model", "batch has {} tokens but its layout has {} rows", batch.tokens.size(), L.rows());
  if (batch.tokens.empty()) throw_error("model", "empty batch");
  for (size_t i = 0; i < batch.tokens.size(); ++i)
    if (batch.tokens[i] < 0 || batch.tokens[i] >= vocab)
      throw_error("model", "token id {} outside the vocabulary [0, {})", batch.tokens[i], vocab);
  std::set<int> slots;
  const auto& spec = cache.spec();
  for (const SeqSpan& s : L.seqs) {
    if (s.slot < 0 || s.slot >= spec.max_seqs)
      throw_error("model", "sequence slot {} outside [0, {})", s.slot, spec.max_seqs);
    if (!slots.insert(s.slot).second)
      throw_error("model", "sequence slot {} appears twice in one batch", s.slot);
    if (s.pos0 > cache.seq_len(s.slot))
      throw_error("model", "sequence in slot {} starts at position {} but only {} are cached", s.slot,
                  s.pos0, cache.seq_len(s.slot));
    if (static_cast<int64_t>(s.pos0) + s.count > spec.max_context)
      throw_error("model", "context of {} tokens exceeded ({} requested)", spec.max_context,
                  static_cast<int64_t>(s.pos0) + s.count);
    if (s.count > spec.max_chunk)
      throw_error("model", "{} rows for one sequence in one pass; at most {}", s.count, spec.max_chunk);
  }
  for (int32_t r : batch.logit_rows)
    if (r < 0 || r >= L.rows()) throw_error("model", "logit row {} outside [0, {})", r, L.rows());
}

void commit_batch(const ForwardBatch& batch, KvCache& cache) {
  for (const SeqSpan& s : batch.layout.seqs) cache.set_len(s.slot, s.pos0 + s.count);
}

std::vector<int32_t> config_eos_ids(const nlohmann::json& cfg) {
  std::vector<int32_t> ids;
  if (!cfg.contains("eos_token_id")) return ids;
  const auto& e = cfg["eos_token_id"];
  if (e.is_number_integer()) {
    ids.push_back(e.get<int32_t>());
  } else if (e.is_array()) {
    for (const auto& v : e)
      if (v.is_number_integer()) ids.push_back(v.get<int32_t>());
  }
  return ids;
}

}  // namespace ollmlx::blocks
