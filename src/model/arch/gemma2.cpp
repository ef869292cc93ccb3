// The `gemma2` architecture as mlx-lm runs it (models/gemma2.py): Gemma 2 (2B/9B/27B).
//  * RMSNorm with weight (1 + w) (computed in the weight's dtype), four norms per block
//    (blocks::SandwichBlock);
//  * h = embed(tokens) * sqrt(hidden) (the scalar rounded to the embedding's dtype, as MLX's
//    weakly typed python-float multiply does);
//  * attention: scale query_pre_attn_scalar^-1/2 (default 144), scores soft-capped
//    tanh(s / 50) * 50 (attn_logit_softcapping) before the softmax;
//  * MLP down(gelu_tanh(gate) * up);
//  * logits = embed^T (always tied), soft-capped tanh(l / 30) * 30 (final_logit_softcapping).
// Deliberate mlx-lm difference from transformers: Gemma 2's sliding window (4096 on alternating
// layers) is NOT implemented in mlx-lm -- every layer is full causal attention with a plain KV
// cache -- so results equal transformers' only below 4096 tokens. We match mlx-lm.
#include <fmt/format.h>

#include <cmath>

#include "model/arch/arch.h"
#include "model/blocks.h"
#include "model/rope.h"
#include "util/error.h"

namespace ollmlx {
namespace {

class Gemma2Model final : public blocks::DecoderModel {
 public:
  Gemma2Model(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) : DecoderModel(be) {
    const auto& cfg = dir.config();
    const std::string file = dir.path() + "/config.json";
    using format::config_bool;
    using format::config_float;
    using format::config_int;
    blocks::Sizes s;
    s.hidden = config_int(cfg, "hidden_size", file);
    s.layers = config_int(cfg, "num_hidden_layers", file);
    s.intermediate = config_int(cfg, "intermediate_size", file);
    s.heads = config_int(cfg, "num_attention_heads", file);
    s.vocab = config_int(cfg, "vocab_size", file);
    s.kv_heads = config_int(cfg, "num_key_value_heads", file);
    s.head_dim = config_int(cfg, "head_dim", file);
    blocks::check_sizes(s, file);
    const float eps = static_cast<float>(config_float(cfg, "rms_norm_eps", 1e-6, file));
    const double attn_cap = config_float(cfg, "attn_logit_softcapping", 50.0, file);
    final_cap_ = static_cast<float>(config_float(cfg, "final_logit_softcapping", 30.0, file));
    const double qpas = config_float(cfg, "query_pre_attn_scalar", 144.0, file);
    if (!(attn_cap > 0) || !(final_cap_ > 0) || !(qpas > 0))
      throw_error("config", "{}: attn_logit_softcapping ({}), final_logit_softcapping ({}) and "
                  "query_pre_attn_scalar ({}) must be positive", file, attn_cap, final_cap_, qpas);
    const RopeSpec rope = rope_plain(config_float(cfg, "rope_theta", 10000.0, file),
                                     static_cast<int>(s.head_dim),
                                     config_bool(cfg, "rope_traditional", false, file), 1.0, file);
    const bool f32 = opt.activation_dtype == DType::F32;

    const int64_t D = s.hidden, F = s.intermediate, hd = s.head_dim;
    blocks::ParamStats stats;
    embed_ = blocks::load_linear(dir, be, "model.embed_tokens", s.vocab, D);
    stats.add_embedding(embed_);
    layers_.resize(static_cast<size_t>(s.layers));
    for (int64_t i = 0; i < s.layers; ++i) {
      const std::string p = fmt::format("model.layers.{}.", i);
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
      a.params.layer = static_cast<int>(i);
      a.params.n_heads = static_cast<int>(s.heads);
      a.params.n_kv_heads = static_cast<int>(s.kv_heads);
      a.params.head_dim = static_cast<int>(hd);
      a.params.scale = static_cast<float>(1.0 / std::sqrt(qpas));
      a.params.softcap = static_cast<float>(attn_cap);
      a.rope = rope;
      L.mlp.gate = blocks::load_linear(dir, be, p + "mlp.gate_proj", F, D);
      L.mlp.up = blocks::load_linear(dir, be, p + "mlp.up_proj", F, D);
      L.mlp.down = blocks::load_linear(dir, be, p + "mlp.down_proj", D, F);
      L.mlp.act = Activation::GeluTanh;
      for (const Linear* l : {&a.q, &a.k, &a.v, &a.o, &L.mlp.gate, &L.mlp.up, &L.mlp.down}) stats.add(*l);
      for (const Tensor* t : {&L.input_norm, &L.post_attn_norm, &L.pre_ffn_norm, &L.post_ffn_norm})
        stats.add(*t);
      kv_layers_.push_back({a.params.n_kv_heads, a.params.head_dim, 0});
    }
    norm_ = blocks::load_offset_norm(dir, be, "model.norm.weight", D, f32);
    stats.add(norm_);
    set_info(dir, cfg, s, stats, opt, config_int(cfg, "max_position_embeddings", 0, file));
    embed_dtype_ = blocks::lookup_dtype(embed_, opt);
    // `h * hidden**0.5`: the python float becomes a scalar of h's dtype.
    embed_scale_ = blocks::round_to_dtype(static_cast<float>(std::sqrt(static_cast<double>(D))), embed_dtype_);
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
    end_forward(be.softcap(be.linear(hs, embed_), final_cap_), batch, cache, out);
  }

 private:
  Linear embed_;
  Tensor norm_;
  std::vector<blocks::SandwichBlock> layers_;
  float final_cap_ = 30.0f;
  float embed_scale_ = 1.0f;
  DType embed_dtype_ = DType::F32;
};

}  // namespace

namespace arch {
std::unique_ptr<Model> make_gemma2(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) {
  return std::make_unique<Gemma2Model>(dir, be, opt);
}
}  // namespace arch

}  // namespace ollmlx
