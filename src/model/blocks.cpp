#include "model/blocks.h"

#include <fmt/format.h>

#include <cstring>
#include <set>

#include "model/arch/arch.h"
#include "util/error.h"
#include "util/half.h"
#include "util/unaligned.h"

namespace ollmlx::blocks {

Tensor Attention::forward(Backend& be, const Tensor& x, KvCache& cache,
                          const BatchLayout& batch) const {
  const int H = params.n_heads, KV = params.n_kv_heads, hd = params.head_dim;
  std::vector<Tensor> qkv = be.linear_multi(x, {&q, &k, &v});
  Tensor qt = std::move(qkv[0]);  // [T, H*hd]
  Tensor kt = std::move(qkv[1]);  // [T, KV*hd]
  Tensor vt = std::move(qkv[2]);  // [T, KV*hd]
  if (!q_norm.empty()) qt = be.rms_norm_heads(qt, q_norm, norm_eps, hd);
  if (!k_norm.empty()) kt = be.rms_norm_heads(kt, k_norm, norm_eps, hd);
  qt = be.rope(qt, H, hd, batch, rope);
  kt = be.rope(kt, KV, hd, batch, rope);
  Tensor a = be.attention(qt, kt, vt, cache, batch, params);  // [T, H*hd]
  return be.linear(a, o);
}

Tensor GatedMlp::forward(Backend& be, const Tensor& x) const {
  std::vector<Tensor> gu = be.linear_multi(x, {&gate, &up});  // 2 x [T, F]
  return be.linear_gated(std::move(gu[0]), std::move(gu[1]), act, down);
}

Tensor PreNormBlock::forward(Backend& be, const Tensor& h, KvCache& cache,
                             const BatchLayout& batch) const {
  Backend::SumAndNorm x = be.add_rms_norm(h, attn.forward(be, be.rms_norm(h, attn_norm, eps), cache, batch),
                                          mlp_norm, eps);
  return be.add(x.sum, mlp.forward(be, x.norm));
}

Tensor SandwichBlock::forward(Backend& be, const Tensor& h, KvCache& cache,
                              const BatchLayout& batch) const {
  constexpr float kF16Max = 65504.0f;
  auto residual = [&](const Tensor& a, const Tensor& b) {
    if (!clip) return be.add(a, b);
    const DType act = be.activation_dtype();
    be.set_activation_dtype(DType::F16);
    Tensor y = be.add_clipped(a, b, kF16Max);
    be.set_activation_dtype(act);
    return y;
  };
  Tensor r = attn.forward(be, be.rms_norm(h, input_norm, eps), cache, batch);
  Tensor x = residual(h, be.rms_norm(r, post_attn_norm, eps));
  Tensor m = mlp.forward(be, be.rms_norm(x, pre_ffn_norm, eps));
  return residual(x, be.rms_norm(m, post_ffn_norm, eps));
}

Tensor load_vector(const format::ModelDir& dir, Backend& be, const std::string& name, int64_t dim) {
  Tensor t = dir.weights().get(name, {dim});
  if (!is_float(t.dtype) || t.dtype == DType::F64)
    throw_error("weights", "{}: tensor '{}' must be F32, F16 or BF16, found {}", dir.path(), name,
                dtype_name(t.dtype));
  return be.load_tensor(t);
}

Tensor load_offset_norm(const format::ModelDir& dir, Backend& be, const std::string& name,
                        int64_t dim, bool f32) {
  const Tensor w = dir.weights().get(name, {dim});
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16)
    throw_error("weights", "{}: tensor '{}' must be F32, F16 or BF16, found {}", dir.path(), name,
                dtype_name(w.dtype));
  const DType out_dt = f32 ? DType::F32 : w.dtype;
  Tensor t = make_host_tensor(out_dt, {dim});
  for (int64_t i = 0; i < dim; ++i) {
    float v = w.dtype == DType::F32    ? load_f32_at(w.data, i)
              : w.dtype == DType::F16 ? f16_to_f32(load_u16_at(w.data, i))
                                       : bf16_to_f32(load_u16_at(w.data, i));
    v = 1.0f + v;
    if (out_dt == DType::F32)
      t.ptr<float>()[i] = v;
    else if (out_dt == DType::F16)
      t.ptr<uint16_t>()[i] = f32_to_f16(v);
    else
      t.ptr<uint16_t>()[i] = f32_to_bf16(v);
  }
  return be.load_tensor(t);
}

Linear load_linear(const format::ModelDir& dir, Backend& be, const std::string& path, int64_t out,
                   int64_t in) {
  return be.load_linear(dir.linear(path, out, in));
}

namespace {
// Rows [begin, begin + count) of a row-major tensor (1-D: elements).
Tensor row_view(const Tensor& t, int64_t begin, int64_t count) {
  if (t.empty()) return t;
  Tensor v = t;
  const int64_t row_elems = t.rank() >= 2 ? t.numel() / t.dim(0) : 1;
  v.shape[0] = count;
  v.data = static_cast<uint8_t*>(t.data) +
           static_cast<size_t>(begin * row_elems) * dtype_size(t.dtype);
  return v;
}
}  // namespace

Linear slice_rows(const Linear& l, int64_t begin, int64_t count, const std::string& name) {
  if (begin < 0 || count <= 0 || begin + count > l.out)
    throw_error("weights", "{}: rows [{}, {}) outside the {} outputs of the layer", l.name, begin,
                begin + count, l.out);
  Linear p = l;
  p.name = name;
  p.out = count;
  p.weight = row_view(l.weight, begin, count);
  p.scales = row_view(l.scales, begin, count);
  p.biases = row_view(l.biases, begin, count);
  p.bias = row_view(l.bias, begin, count);
  validate_linear(p);
  return p;
}

std::vector<Linear> load_fused_linear(const format::ModelDir& dir, Backend& be, const std::string& path,
                                      const std::vector<int64_t>& parts, int64_t in) {
  int64_t total = 0;
  for (int64_t n : parts) total += n;
  const Linear host = dir.linear(path, total, in);
  std::vector<Linear> out;
  int64_t begin = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    out.push_back(be.load_linear(slice_rows(host, begin, parts[i], fmt::format("{}[{}]", path, i))));
    begin += parts[i];
  }
  return out;
}

float round_to_dtype(float x, DType dt) {
  if (dt == DType::BF16) return round_bf16(x);
  if (dt == DType::F16) return round_f16(x);
  return x;
}

namespace {
bool fp_mode(const Linear& l) {
  return l.quant.mode == QuantMode::MxFp4 || l.quant.mode == QuantMode::MxFp8 ||
         l.quant.mode == QuantMode::NvFp4;
}
}  // namespace

std::vector<DType> param_dtypes(const Linear& l) {
  std::vector<DType> d;
  // The fp modes' U8 scales are not float parameters: the layer computes in its input's dtype.
  if (l.quantized()) {
    if (!fp_mode(l)) d.push_back(l.scales.dtype);
  } else {
    d.push_back(l.weight.dtype);
  }
  if (l.has_bias()) d.push_back(l.bias.dtype);
  return d;
}

DType table_dtype(const Linear& table) {
  // mx.dequantize without float scales returns bfloat16 (mxfp4/mxfp8/nvfp4 tables).
  if (fp_mode(table)) return DType::BF16;
  return table.quantized() ? table.scales.dtype : table.weight.dtype;
}

DType lookup_dtype(const Linear& table, const ModelOptions& opt) {
  if (fp_mode(table)) return DType::BF16;
  return opt.activation_dtype.value_or(table_dtype(table));
}

void check_sizes(const Sizes& s, const std::string& file) {
  if (s.hidden <= 0 || s.intermediate <= 0 || s.heads <= 0 || s.kv_heads <= 0 || s.vocab <= 0 ||
      s.layers <= 0 || s.layers > 1024)
    throw_error("config", "{}: invalid sizes (hidden {}, intermediate {}, heads {}/{}, vocab {}, layers {})",
                file, s.hidden, s.intermediate, s.heads, s.kv_heads, s.vocab, s.layers);
  if (s.heads % s.kv_heads != 0)
    throw_error("config", "{}: {} attention heads not a multiple of {} key/value heads", file,
                s.heads, s.kv_heads);
  if (s.head_dim <= 0 || s.head_dim % 2 != 0 || s.head_dim > 1024)
    throw_error("config", "{}: invalid head_dim {}", file, s.head_dim);
}

void ParamStats::add(const Linear& l) {
  for (DType t : param_dtypes(l)) dtypes.push_back(t);
  count += l.out * l.in + (l.has_bias() ? l.out : 0);
}

void ParamStats::add_embedding(const Linear& table) {
  dtypes.push_back(table_dtype(table));
  count += table.out * table.in;
}

void ParamStats::add(const Tensor& t) {
  dtypes.push_back(t.dtype);
  count += t.numel();
}

DType infer_activation_dtype(const std::vector<DType>& param_dtypes) {
  std::set<DType> kinds(param_dtypes.begin(), param_dtypes.end());
  if (kinds.size() == 1 && (*kinds.begin() == DType::BF16 || *kinds.begin() == DType::F16))
    return *kinds.begin();
  return DType::F32;
}

void validate_batch(const ForwardBatch& batch, const KvCache& cache, int64_t vocab) {
  const auto& L = batch.layout;
  if (!batch.token_ids.empty()) {
    // Ids on the backend (a pipelined decode step): their values are checked (clamped) there.
    if (!batch.tokens.empty()) throw_error("model", "a batch has either host tokens or token_ids, not both");
    if (batch.token_ids.dtype != DType::I32 || batch.token_ids.rank() != 1 || batch.token_ids.dim(0) != L.rows())
      throw_error("model", "token_ids {} {} do not match the layout's {} rows", dtype_name(batch.token_ids.dtype),
                  shape_str(batch.token_ids.shape), L.rows());
    if (L.rows() == 0) throw_error("model", "empty batch");
  } else {
    if (static_cast<int64_t>(batch.tokens.size()) != L.rows())
      throw_error("model", "batch has {} tokens but its layout has {} rows", batch.tokens.size(), L.rows());
    if (batch.tokens.empty()) throw_error("model", "empty batch");
  }
  if (batch.argmax_async && !batch.argmax_only) throw_error("model", "argmax_async needs argmax_only");
  if (!batch.sampling.empty() && (batch.argmax_only || batch.sampling.size() != batch.logit_rows.size()))
    throw_error("model", "a sampling pass needs one entry per logit row ({} for {}) and no argmax_only",
                batch.sampling.size(), batch.logit_rows.size());
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

Tensor embed_tokens(Backend& be, const Linear& table, const ForwardBatch& batch, DType compute) {
  if (!batch.token_ids.empty()) return be.embed_ids(table, batch.token_ids, compute);
  return be.embed(table, batch.tokens, compute);
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

namespace ollmlx::blocks {

std::vector<int> layer_windows(const nlohmann::json& cfg, int64_t n_layers, const std::string& file) {
  std::vector<int> windows(static_cast<size_t>(n_layers), 0);
  if (!cfg.contains("layer_types") || cfg["layer_types"].is_null()) return windows;
  const auto& lt = cfg["layer_types"];
  if (!lt.is_array() || static_cast<int64_t>(lt.size()) != n_layers)
    throw_error("config", "{}: layer_types must list {} layer types", file, n_layers);
  for (int64_t i = 0; i < n_layers; ++i) {
    const auto& v = lt[static_cast<size_t>(i)];
    const std::string t = v.is_string() ? v.get<std::string>() : "";
    if (t == "sliding_attention") {
      const int64_t w = format::config_int(cfg, "sliding_window", file);
      if (w <= 0 || w > (int64_t{1} << 30))
        throw_error("config", "{}: sliding_window must be positive", file);
      windows[static_cast<size_t>(i)] = static_cast<int>(w);
    } else if (t != "full_attention") {
      throw_error("config", "{}: unknown layer type '{}'", file, t);
    }
  }
  return windows;
}

KvCacheSpec DecoderModel::kv_spec(int max_seqs, int max_context, int max_chunk) const {
  KvCacheSpec s;
  s.layers = kv_layers_;
  s.dtype = info_.activation_dtype;
  s.max_seqs = max_seqs;
  s.max_context = max_context;
  s.max_chunk = max_chunk;
  return s;
}

void DecoderModel::begin_forward(const ForwardBatch& batch, const KvCache& cache) {
  validate_batch(batch, cache, info_.vocab);
  Backend& be = backend();
  be.set_activation_dtype(info_.activation_dtype);
  be.begin_forward_pass(batch.layout, batch.logit_rows.size());
}

void DecoderModel::end_forward(const Tensor& logits, const ForwardBatch& batch, KvCache& cache,
                               Logits& out) {
  out.pending_ids = Tensor();
  if (batch.argmax_only && batch.argmax_async) {
    out.pending_ids = backend().argmax_rows_async(logits);
    out.argmax.clear();
    out.data.clear();
  } else if (batch.argmax_only) {
    out.argmax = backend().argmax_rows(logits);
    out.data.clear();
  } else if (!batch.sampling.empty()) {
    out.argmax = backend().sample_rows(logits, batch.sampling);
    out.data.clear();
  } else {
    backend().to_host(logits, out.data);
    out.argmax.clear();
  }
  out.rows = static_cast<int64_t>(batch.logit_rows.size());
  out.vocab = info_.vocab;
  commit_batch(batch, cache);
}

void DecoderModel::set_info(const format::ModelDir& dir, const nlohmann::json& cfg, const Sizes& s,
                            const ParamStats& stats, const ModelOptions& opt,
                            int64_t context_length) {
  info_.architecture = dir.model_type();
  info_.n_layers = s.layers;
  info_.hidden = s.hidden;
  info_.vocab = s.vocab;
  info_.n_heads = s.heads;
  info_.n_kv_heads = s.kv_heads;
  info_.head_dim = s.head_dim;
  info_.intermediate = s.intermediate;
  info_.context_length = context_length;
  info_.n_params = stats.count;
  info_.weight_bytes = dir.weights().total_bytes();
  info_.activation_dtype = opt.activation_dtype.value_or(infer_activation_dtype(stats.dtypes));
  info_.config_eos_ids = config_eos_ids(cfg);
  if (cfg.contains("bos_token_id") && cfg["bos_token_id"].is_number_integer())
    info_.bos_id = cfg["bos_token_id"].get<int32_t>();
  info_.quantization = arch::describe_quantization(dir);
}

}  // namespace ollmlx::blocks
