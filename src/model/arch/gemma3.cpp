// The `gemma3_text` architecture (Gemma 3 270M / 1B) and the `gemma3` wrapper (4B and larger,
// multimodal checkpoints: the text model's config under `text_config`, its weights under
// `language_model.`, vision weights absent or ignored), as mlx-lm runs them
// (models/gemma3_text.py, models/gemma3.py):
//  * Gemma's (1 + w) RMSNorms and four-norm block (blocks::SandwichBlock), gelu_tanh MLP;
//  * per-head q_norm / k_norm ((1 + w) RMSNorm over head_dim) before RoPE;
//  * attention scale query_pre_attn_scalar^-1/2 (default 256), no soft-capping;
//  * layer i is a sliding-window layer iff (i + 1) % sliding_window_pattern != 0 (default 6: five
//    local layers, then a global one). Local layers: window `sliding_window` (default 512; query i
//    sees keys i - window < j <= i, kept in a rotating KV cache), RoPE base rope_local_base_freq
//    (10000) without scaling. Global layers: full causal attention, RoPE base rope_theta (1e6)
//    with rope_scaling (e.g. linear factor 8 on 4B+);
//  * h = embed(tokens) * sqrt(hidden), the scalar rounded through bfloat16 first;
//  * float16 residual stream (the embedding lookup returns float16): residual adds in float32,
//    clamped to +-65504 and rounded back to float16 (mlx-lm's clip_residual), even when the other
//    ops run in float32 (e.g. float32 norm weights);
//  * logits = lm_head(norm(h)), or embed^T when the checkpoint has no lm_head (tied).
// The wrapper's top-level vocab_size (default 262208) overrides text_config's; text_config
// heads default to 8 and kv heads to 4 when missing (mlx-lm's gemma3.ModelArgs).
#include <fmt/format.h>

#include <cmath>

#include "model/arch/arch.h"
#include "model/blocks.h"
#include "model/rope.h"
#include "util/error.h"
#include "util/half.h"

namespace ollmlx {
namespace {

class Gemma3Model final : public blocks::DecoderModel {
 public:
  // tc: the text model's config; prefix: "" (gemma3_text) or "language_model." (gemma3).
  Gemma3Model(const format::ModelDir& dir, const nlohmann::json& tc, const std::string& prefix,
              const std::string& file, Backend& be, const ModelOptions& opt)
      : DecoderModel(be) {
    using format::config_float;
    using format::config_int;
    blocks::Sizes s;
    s.hidden = config_int(tc, "hidden_size", 1152, file);
    s.layers = config_int(tc, "num_hidden_layers", 26, file);
    s.intermediate = config_int(tc, "intermediate_size", 6912, file);
    s.heads = config_int(tc, "num_attention_heads", 4, file);
    s.vocab = config_int(tc, "vocab_size", 262144, file);
    s.kv_heads = config_int(tc, "num_key_value_heads", 1, file);
    s.head_dim = config_int(tc, "head_dim", 256, file);
    blocks::check_sizes(s, file);
    const float eps = static_cast<float>(config_float(tc, "rms_norm_eps", 1e-6, file));
    const double qpas = config_float(tc, "query_pre_attn_scalar", 256.0, file);
    const int64_t window = config_int(tc, "sliding_window", 512, file);
    const int64_t pattern = config_int(tc, "sliding_window_pattern", 6, file);
    const int64_t max_pos = config_int(tc, "max_position_embeddings", 32768, file);
    if (!(qpas > 0) || window <= 0 || window > (int64_t{1} << 30) || pattern <= 0)
      throw_error("config", "{}: query_pre_attn_scalar ({}), sliding_window ({}) and "
                  "sliding_window_pattern ({}) must be positive", file, qpas, window, pattern);
    const int hd = static_cast<int>(s.head_dim);
    const RopeSpec local_rope = rope_plain(config_float(tc, "rope_local_base_freq", 10000.0, file), hd,
                                           false, 1.0, file);
    nlohmann::json grc = nlohmann::json::object();
    grc["rope_theta"] = config_float(tc, "rope_theta", 1e6, file);
    grc["max_position_embeddings"] = max_pos;
    if (tc.contains("rope_scaling")) grc["rope_scaling"] = tc["rope_scaling"];
    const RopeSpec global_rope = rope_from_config(grc, hd, file);
    const bool f32 = opt.activation_dtype == DType::F32;

    const int64_t D = s.hidden, F = s.intermediate;
    const std::string m = prefix + "model.";
    blocks::ParamStats stats;
    embed_ = blocks::load_linear(dir, be, m + "embed_tokens", s.vocab, D);
    stats.add_embedding(embed_);
    layers_.resize(static_cast<size_t>(s.layers));
    for (int64_t i = 0; i < s.layers; ++i) {
      const std::string p = fmt::format("{}layers.{}.", m, i);
      const bool sliding = (i + 1) % pattern != 0;
      blocks::SandwichBlock& L = layers_[static_cast<size_t>(i)];
      L.eps = eps;
      L.input_norm = blocks::load_offset_norm(dir, be, p + "input_layernorm.weight", D, f32);
      L.post_attn_norm = blocks::load_offset_norm(dir, be, p + "post_attention_layernorm.weight", D, f32);
      L.pre_ffn_norm = blocks::load_offset_norm(dir, be, p + "pre_feedforward_layernorm.weight", D, f32);
      L.post_ffn_norm = blocks::load_offset_norm(dir, be, p + "post_feedforward_layernorm.weight", D, f32);
      auto& a = L.attn;
      a.q = blocks::load_linear(dir, be, p + "self_attn.q_proj", s.heads * hd, D);
      a.k = blocks::load_linear(dir, be, p + "self_attn.k_proj", s.kv_heads * hd, D);
      a.v = blocks::load_linear(dir, be, p + "self_attn.v_proj", s.kv_heads * hd, D);
      a.o = blocks::load_linear(dir, be, p + "self_attn.o_proj", D, s.heads * hd);
      a.q_norm = blocks::load_offset_norm(dir, be, p + "self_attn.q_norm.weight", hd, f32);
      a.k_norm = blocks::load_offset_norm(dir, be, p + "self_attn.k_norm.weight", hd, f32);
      a.norm_eps = eps;
      a.params.layer = static_cast<int>(i);
      a.params.n_heads = static_cast<int>(s.heads);
      a.params.n_kv_heads = static_cast<int>(s.kv_heads);
      a.params.head_dim = hd;
      a.params.scale = static_cast<float>(1.0 / std::sqrt(qpas));
      a.params.window = sliding ? static_cast<int>(window) : 0;
      a.rope = sliding ? local_rope : global_rope;
      L.mlp.gate = blocks::load_linear(dir, be, p + "mlp.gate_proj", F, D);
      L.mlp.up = blocks::load_linear(dir, be, p + "mlp.up_proj", F, D);
      L.mlp.down = blocks::load_linear(dir, be, p + "mlp.down_proj", D, F);
      L.mlp.act = Activation::GeluTanh;
      for (const Linear* l : {&a.q, &a.k, &a.v, &a.o, &L.mlp.gate, &L.mlp.up, &L.mlp.down}) stats.add(*l);
      for (const Tensor* t : {&L.input_norm, &L.post_attn_norm, &L.pre_ffn_norm, &L.post_ffn_norm,
                              &a.q_norm, &a.k_norm})
        stats.add(*t);
      kv_layers_.push_back({a.params.n_kv_heads, a.params.head_dim, a.params.window});
    }
    norm_ = blocks::load_offset_norm(dir, be, m + "norm.weight", D, f32);
    stats.add(norm_);
    tied_ = !dir.has_module(prefix + "lm_head");  // mlx-lm: tied iff no lm_head.weight
    if (!tied_) {
      lm_head_ = blocks::load_linear(dir, be, prefix + "lm_head", s.vocab, D);
      stats.add(lm_head_);
    }
    set_info(dir, dir.config(), s, stats, opt, max_pos);
    info_.pass_dependent = global_rope.dynamic;
    embed_dtype_ = blocks::lookup_dtype(embed_, opt);
    // `h *= mx.array(hidden**0.5, mx.bfloat16).astype(h.dtype)`.
    embed_scale_ = blocks::round_to_dtype(round_bf16(static_cast<float>(std::sqrt(static_cast<double>(D)))),
                                          embed_dtype_);
    // mlx-lm's clip_residual keys off the residual stream's dtype, which is the lookup's: a
    // float16 stream stays float16 (clamped) even where the other ops promote to float32.
    for (auto& L : layers_) L.clip = embed_dtype_ == DType::F16;
    if (embed_dtype_ == DType::F16 && info_.activation_dtype != DType::F16)
      info_.residual_dtype = DType::F16;
  }

  void forward(const ForwardBatch& batch, KvCache& cache, Logits& out) override {
    begin_forward(batch, cache);
    Backend& be = backend();
    // MLX scales the looked-up rows in their own dtype (bf16 for an fp-quantized table even in a
    // float32 run), then the first layer promotes them to the activation dtype.
    be.set_activation_dtype(embed_dtype_);
    Tensor h = be.scale(blocks::embed_tokens(be, embed_, batch, embed_dtype_), embed_scale_);
    be.set_activation_dtype(info_.activation_dtype);
    for (const auto& L : layers_) h = L.forward(be, h, cache, batch.layout);
    Tensor hs = be.rms_norm(be.gather_rows(h, batch.logit_rows), norm_, layers_.front().eps);
    end_forward(be.linear(hs, tied_ ? embed_ : lm_head_), batch, cache, out);
  }

 private:
  Linear embed_, lm_head_;
  Tensor norm_;
  std::vector<blocks::SandwichBlock> layers_;
  bool tied_ = true;
  float embed_scale_ = 1.0f;
  DType embed_dtype_ = DType::F32;
};

}  // namespace

namespace arch {

std::unique_ptr<Model> make_gemma3_text(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) {
  return std::make_unique<Gemma3Model>(dir, dir.config(), "", dir.path() + "/config.json", be, opt);
}

std::unique_ptr<Model> make_gemma3(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) {
  const auto& cfg = dir.config();
  const std::string file = dir.path() + "/config.json";
  if (!cfg.contains("text_config") || !cfg["text_config"].is_object())
    throw_error("config", "{}: gemma3 needs an object 'text_config'", file);
  nlohmann::json tc = cfg["text_config"];
  tc["vocab_size"] = format::config_int(cfg, "vocab_size", 262208, file);
  if (!tc.contains("num_attention_heads")) tc["num_attention_heads"] = 8;
  if (!tc.contains("num_key_value_heads")) tc["num_key_value_heads"] = 4;
  return std::make_unique<Gemma3Model>(dir, tc, "language_model.", file + " (text_config)", be, opt);
}

}  // namespace arch

}  // namespace ollmlx
