// The `qwen2` architecture as mlx-lm runs it (models/qwen2.py): Qwen 2 / 2.5 (tied for the small
// sizes, untied from 7B), the llama block with biases on q/k/v (never on o), head_dim always
// hidden/heads, rope_theta default 1e6, rope_scaling through mlx-lm's initialize_rope (yarn for
// the 1M-context variants). `use_sliding_window` / `sliding_window` are ignored (mlx-lm does).
//
//   per layer: h += o(attn(rope(q(n1(h)) + bq), rope(k(n1(h)) + bk), v(n1(h)) + bv))
//              h += down(silu(gate(n2(h))) * up(n2(h)))
//   logits = lm_head(norm(h)) or embed^T (tied)
#include <fmt/format.h>

#include <cmath>

#include "model/arch/arch.h"
#include "model/blocks.h"
#include "model/rope.h"
#include "util/error.h"

namespace ollmlx {
namespace {

class Qwen2Model final : public blocks::DecoderModel {
 public:
  Qwen2Model(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) : DecoderModel(be) {
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
    s.head_dim = s.heads > 0 ? s.hidden / s.heads : 0;  // a config head_dim is not read
    blocks::check_sizes(s, file);
    const float eps = static_cast<float>(config_float(cfg, "rms_norm_eps", 1e-6, file));
    tied_ = config_bool(cfg, "tie_word_embeddings", true, file);
    const int64_t max_pos = config_int(cfg, "max_position_embeddings", 32768, file);
    const RopeSpec rope = rope_from_config(cfg, static_cast<int>(s.head_dim), file, {1e6, max_pos});

    const int64_t D = s.hidden, F = s.intermediate, hd = s.head_dim;
    blocks::ParamStats stats;
    embed_ = blocks::load_linear(dir, be, "model.embed_tokens", s.vocab, D);
    stats.add_embedding(embed_);
    layers_.resize(static_cast<size_t>(s.layers));
    for (int64_t i = 0; i < s.layers; ++i) {
      const std::string p = fmt::format("model.layers.{}.", i);
      blocks::PreNormBlock& L = layers_[static_cast<size_t>(i)];
      L.eps = eps;
      L.attn_norm = blocks::load_vector(dir, be, p + "input_layernorm.weight", D);
      L.mlp_norm = blocks::load_vector(dir, be, p + "post_attention_layernorm.weight", D);
      auto& a = L.attn;
      a.q = blocks::load_linear(dir, be, p + "self_attn.q_proj", s.heads * hd, D);
      a.k = blocks::load_linear(dir, be, p + "self_attn.k_proj", s.kv_heads * hd, D);
      a.v = blocks::load_linear(dir, be, p + "self_attn.v_proj", s.kv_heads * hd, D);
      a.o = blocks::load_linear(dir, be, p + "self_attn.o_proj", D, s.heads * hd);
      for (const Linear* l : {&a.q, &a.k, &a.v})
        if (!l->has_bias())
          throw_error("weights", "{}: qwen2 needs '{}.bias' (q/k/v projections have biases)",
                      dir.path(), l->name);
      if (a.o.has_bias())
        throw_error("weights", "{}: unexpected '{}.bias' (qwen2's o_proj has none)", dir.path(), a.o.name);
      a.params.layer = static_cast<int>(i);
      a.params.n_heads = static_cast<int>(s.heads);
      a.params.n_kv_heads = static_cast<int>(s.kv_heads);
      a.params.head_dim = static_cast<int>(hd);
      a.params.scale = 1.0f / std::sqrt(static_cast<float>(hd));
      a.rope = rope;
      L.mlp.gate = blocks::load_linear(dir, be, p + "mlp.gate_proj", F, D);
      L.mlp.up = blocks::load_linear(dir, be, p + "mlp.up_proj", F, D);
      L.mlp.down = blocks::load_linear(dir, be, p + "mlp.down_proj", D, F);
      L.mlp.act = Activation::Silu;
      for (const Linear* l : {&a.q, &a.k, &a.v, &a.o, &L.mlp.gate, &L.mlp.up, &L.mlp.down}) stats.add(*l);
      stats.add(L.attn_norm);
      stats.add(L.mlp_norm);
      kv_layers_.push_back({a.params.n_kv_heads, a.params.head_dim, 0});
    }
    norm_ = blocks::load_vector(dir, be, "model.norm.weight", D);
    stats.add(norm_);
    if (!tied_) {
      lm_head_ = blocks::load_linear(dir, be, "lm_head", s.vocab, D);
      stats.add(lm_head_);
    }
    set_info(dir, cfg, s, stats, opt, max_pos);
    info_.pass_dependent = rope.dynamic;
    embed_dtype_ = blocks::lookup_dtype(embed_, opt);
  }

  void forward(const ForwardBatch& batch, KvCache& cache, Logits& out) override {
    begin_forward(batch, cache);
    Backend& be = backend();
    Tensor h = blocks::embed_tokens(be, embed_, batch, embed_dtype_);
    for (const auto& L : layers_) h = L.forward(be, h, cache, batch.layout);
    Tensor hs = be.rms_norm(be.gather_rows(h, batch.logit_rows), norm_, layers_.front().eps);
    end_forward(be.linear(hs, tied_ ? embed_ : lm_head_), batch, cache, out);
  }

 private:
  Linear embed_, lm_head_;
  Tensor norm_;
  std::vector<blocks::PreNormBlock> layers_;
  bool tied_ = true;
  DType embed_dtype_ = DType::F32;
};

}  // namespace

namespace arch {
std::unique_ptr<Model> make_qwen2(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) {
  return std::make_unique<Qwen2Model>(dir, be, opt);
}
}  // namespace arch

}  // namespace ollmlx
