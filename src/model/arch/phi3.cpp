// The `phi3` architecture as mlx-lm runs it (models/phi3.py): Phi-3 / Phi-3.5-mini / Phi-4-mini.
// The llama block with fused projections -- self_attn.qkv_proj [(H + 2 KV) hd, D] split Q | K | V
// along its outputs, mlp.gate_up_proj [2F, D] split gate | up -- loaded once and used as row
// views (blocks::load_fused_linear), so every output is the same dot product as in the fused
// layer. head_dim = hidden/heads; RoPE rotates int(head_dim * partial_rotary_factor) dims.
// rope_scaling (must carry "type" and "long_factor", as mlx-lm asserts):
//   "longrope"/"su": mlx-lm's SuScaledRoPE -- the LONG factors always, even for short sequences,
//                    and q/k scaled by sqrt(1 + ln(max_pos/orig)/ln(orig)) (orig = the config's
//                    top-level original_max_position_embeddings, default 4096). transformers uses
//                    the short factors up to orig tokens; mlx-lm deliberately does not.
//   "linear": positions times 1/factor; any other type: no scaling (mlx-lm warns).
#include <fmt/format.h>

#include <cmath>

#include "model/arch/arch.h"
#include "model/blocks.h"
#include "model/rope.h"
#include "util/error.h"

namespace ollmlx {
namespace {

RopeSpec phi3_rope(const nlohmann::json& cfg, int dims, const std::string& file) {
  using format::config_float;
  using format::config_int;
  const double base = config_float(cfg, "rope_theta", 10000.0, file);
  const bool traditional = format::config_bool(cfg, "rope_traditional", false, file);
  const nlohmann::json* sc = cfg.contains("rope_scaling") ? &cfg["rope_scaling"] : nullptr;
  if (!sc || sc->is_null() || (sc->is_object() && sc->empty()))
    return rope_plain(base, dims, traditional, 1.0, file);
  if (!sc->is_object() || !sc->contains("long_factor") || !sc->contains("type"))
    throw_error("config", "{}: rope_scaling must contain keys 'long_factor' and 'type'", file);
  const std::string type = (*sc)["type"].is_string() ? (*sc)["type"].get<std::string>() : "";
  if (type == "longrope" || type == "su")
    return rope_su_scaled(base, dims, (*sc)["long_factor"],
                          config_int(cfg, "max_position_embeddings", 131072, file),
                          config_int(cfg, "original_max_position_embeddings", 4096, file), file);
  if (type == "linear") {
    if (!sc->contains("factor") || !(*sc)["factor"].is_number())
      throw_error("config", "{}: linear rope_scaling needs a numeric 'factor'", file);
    return rope_plain(base, dims, traditional, 1.0 / (*sc)["factor"].get<double>(), file);
  }
  return rope_plain(base, dims, traditional, 1.0, file);  // mlx-lm: warning, scaling off
}

class Phi3Model final : public blocks::DecoderModel {
 public:
  Phi3Model(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) : DecoderModel(be) {
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
    s.kv_heads = config_int(cfg, "num_key_value_heads", s.heads, file);
    s.head_dim = s.heads > 0 ? s.hidden / s.heads : 0;
    blocks::check_sizes(s, file);
    const float eps = static_cast<float>(config_float(cfg, "rms_norm_eps", 1e-5, file));
    tied_ = config_bool(cfg, "tie_word_embeddings", false, file);
    const double prf = config_float(cfg, "partial_rotary_factor", 1.0, file);
    const int rope_dims = static_cast<int>(static_cast<double>(s.head_dim) * prf);
    if (!(prf > 0.0 && prf <= 1.0) || rope_dims <= 0 || rope_dims % 2 != 0)
      throw_error("config", "{}: partial_rotary_factor {} gives {} rotated dims of head_dim {} "
                  "(must be even and positive)", file, prf, rope_dims, s.head_dim);
    const RopeSpec rope = phi3_rope(cfg, rope_dims, file);

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
      std::vector<Linear> qkv = blocks::load_fused_linear(
          dir, be, p + "self_attn.qkv_proj", {s.heads * hd, s.kv_heads * hd, s.kv_heads * hd}, D);
      a.q = qkv[0];
      a.k = qkv[1];
      a.v = qkv[2];
      a.o = blocks::load_linear(dir, be, p + "self_attn.o_proj", D, s.heads * hd);
      a.params.layer = static_cast<int>(i);
      a.params.n_heads = static_cast<int>(s.heads);
      a.params.n_kv_heads = static_cast<int>(s.kv_heads);
      a.params.head_dim = static_cast<int>(hd);
      a.params.scale = 1.0f / std::sqrt(static_cast<float>(hd));
      a.rope = rope;
      std::vector<Linear> gu = blocks::load_fused_linear(dir, be, p + "mlp.gate_up_proj", {F, F}, D);
      L.mlp.gate = gu[0];
      L.mlp.up = gu[1];
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
    set_info(dir, cfg, s, stats, opt, config_int(cfg, "max_position_embeddings", 131072, file));
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
  bool tied_ = false;
  DType embed_dtype_ = DType::F32;
};

}  // namespace

namespace arch {
std::unique_ptr<Model> make_phi3(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) {
  return std::make_unique<Phi3Model>(dir, be, opt);
}
}  // namespace arch

}  // namespace ollmlx
