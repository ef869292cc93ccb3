// The `llama` architecture as mlx-lm runs it (models/llama.py): Llama 2/3.x (with llama3 rope
// scaling), SmolLM2, Mistral (model_type "mistral" maps here, as in mlx-lm), optional q/k/v/o and
// MLP biases, tied or untied embeddings, and per-layer sliding windows from `layer_types`
// ("sliding_attention" layers use `sliding_window`; a bare top-level sliding_window without
// layer_types is ignored, like mlx-lm).
//
//   h = embed(tokens)                                   [T, D]
//   per layer: h += o(attn(rope(q(n1(h))), rope(k(n1(h))), v(n1(h))))
//              h += down(silu(gate(n2(h))) * up(n2(h)))
//   logits = lm_head(norm(h)) or embed^T (tied)         [rows, vocab]
#include <fmt/format.h>

#include "model/arch/arch.h"
#include "model/blocks.h"
#include "model/rope.h"
#include "util/error.h"

namespace ollmlx {
namespace {

struct LlamaLayer {
  Tensor input_norm, post_norm;  // [D]
  blocks::Attention attn;
  blocks::GatedMlp mlp;
};

class LlamaModel final : public Model {
 public:
  LlamaModel(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) : Model(be) {
    const auto& cfg = dir.config();
    const std::string file = dir.path() + "/config.json";
    using format::config_bool;
    using format::config_float;
    using format::config_int;
    const int64_t D = config_int(cfg, "hidden_size", file);
    const int64_t n_layers = config_int(cfg, "num_hidden_layers", file);
    const int64_t F = config_int(cfg, "intermediate_size", file);
    const int64_t H = config_int(cfg, "num_attention_heads", file);
    const int64_t vocab = config_int(cfg, "vocab_size", file);
    const int64_t KV = config_int(cfg, "num_key_value_heads", H, file);
    if (D <= 0 || F <= 0 || H <= 0 || KV <= 0 || vocab <= 0 || n_layers <= 0 || n_layers > 1024)
      throw_error("config", "{}: invalid sizes (hidden {}, intermediate {}, heads {}/{}, vocab {}, layers {})",
                  file, D, F, H, KV, vocab, n_layers);
    if (H % KV != 0)
      throw_error("config", "{}: {} attention heads not a multiple of {} key/value heads", file, H, KV);
    const int64_t hd = cfg.contains("head_dim") && !cfg["head_dim"].is_null()
                           ? config_int(cfg, "head_dim", file)
                           : D / H;
    if (hd <= 0 || hd % 2 != 0 || hd > 1024)
      throw_error("config", "{}: invalid head_dim {}", file, hd);
    eps_ = static_cast<float>(config_float(cfg, "rms_norm_eps", 1e-6, file));
    tied_ = config_bool(cfg, "tie_word_embeddings", true, file);
    const bool attn_bias = config_bool(cfg, "attention_bias", false, file);
    const bool mlp_bias = config_bool(cfg, "mlp_bias", false, file);
    (void)attn_bias;  // biases are loaded when present in the files (checked below)
    (void)mlp_bias;

    // Sliding layers.
    std::vector<int> windows(static_cast<size_t>(n_layers), 0);
    if (cfg.contains("layer_types") && !cfg["layer_types"].is_null()) {
      const auto& lt = cfg["layer_types"];
      if (!lt.is_array() || static_cast<int64_t>(lt.size()) != n_layers)
        throw_error("config", "{}: layer_types must list {} layer types", file, n_layers);
      for (int64_t i = 0; i < n_layers; ++i) {
        const std::string t = lt[static_cast<size_t>(i)].is_string() ? lt[static_cast<size_t>(i)].get<std::string>() : "";
        if (t == "sliding_attention") {
          const int64_t w = config_int(cfg, "sliding_window", file);
          if (w <= 0) throw_error("config", "{}: sliding_window must be positive", file);
          windows[static_cast<size_t>(i)] = static_cast<int>(w);
        } else if (t != "full_attention") {
          throw_error("config", "{}: unknown layer type '{}'", file, t);
        }
      }
    }

    const RopeSpec rope = rope_from_config(cfg, static_cast<int>(hd), file);
    std::vector<DType> dtypes;
    embed_ = blocks::load_linear(dir, be, "model.embed_tokens", vocab, D);
    for (DType t : blocks::param_dtypes(embed_)) dtypes.push_back(t);
    layers_.resize(static_cast<size_t>(n_layers));
    for (int64_t i = 0; i < n_layers; ++i) {
      const std::string p = fmt::format("model.layers.{}.", i);
      LlamaLayer& L = layers_[static_cast<size_t>(i)];
      L.input_norm = blocks::load_vector(dir, be, p + "input_layernorm.weight", D);
      L.post_norm = blocks::load_vector(dir, be, p + "post_attention_layernorm.weight", D);
      auto& a = L.attn;
      a.q = blocks::load_linear(dir, be, p + "self_attn.q_proj", H * hd, D);
      a.k = blocks::load_linear(dir, be, p + "self_attn.k_proj", KV * hd, D);
      a.v = blocks::load_linear(dir, be, p + "self_attn.v_proj", KV * hd, D);
      a.o = blocks::load_linear(dir, be, p + "self_attn.o_proj", D, H * hd);
      a.params.layer = static_cast<int>(i);
      a.params.n_heads = static_cast<int>(H);
      a.params.n_kv_heads = static_cast<int>(KV);
      a.params.head_dim = static_cast<int>(hd);
      a.params.scale = 1.0f / std::sqrt(static_cast<float>(hd));
      a.params.window = windows[static_cast<size_t>(i)];
      a.rope = rope;
      L.mlp.gate = blocks::load_linear(dir, be, p + "mlp.gate_proj", F, D);
      L.mlp.up = blocks::load_linear(dir, be, p + "mlp.up_proj", F, D);
      L.mlp.down = blocks::load_linear(dir, be, p + "mlp.down_proj", D, F);
      L.mlp.act = Activation::Silu;
      for (const Linear* l : {&a.q, &a.k, &a.v, &a.o, &L.mlp.gate, &L.mlp.up, &L.mlp.down})
        for (DType t : blocks::param_dtypes(*l)) dtypes.push_back(t);
      dtypes.push_back(L.input_norm.dtype);
      dtypes.push_back(L.post_norm.dtype);
    }
    norm_ = blocks::load_vector(dir, be, "model.norm.weight", D);
    dtypes.push_back(norm_.dtype);
    if (!tied_) {
      lm_head_ = blocks::load_linear(dir, be, "lm_head", vocab, D);
      for (DType t : blocks::param_dtypes(lm_head_)) dtypes.push_back(t);
    }

    info_.architecture = dir.model_type();
    info_.n_layers = n_layers;
    info_.hidden = D;
    info_.vocab = vocab;
    info_.n_heads = H;
    info_.n_kv_heads = KV;
    info_.head_dim = hd;
    info_.intermediate = F;
    info_.context_length = config_int(cfg, "max_position_embeddings", 0, file);
    info_.n_params = vocab * D * (tied_ ? 1 : 2) + D +
                     n_layers * (2 * D + D * H * hd * 2 + D * KV * hd * 2 + 3 * D * F);
    info_.weight_bytes = dir.weights().total_bytes();
    info_.activation_dtype = opt.activation_dtype.value_or(blocks::infer_activation_dtype(dtypes));
    info_.config_eos_ids = blocks::config_eos_ids(cfg);
    if (cfg.contains("bos_token_id") && cfg["bos_token_id"].is_number_integer())
      info_.bos_id = cfg["bos_token_id"].get<int32_t>();
    info_.quantization = arch::describe_quantization(dir);
    info_.pass_dependent = rope.dynamic;
    // MLX looks embeddings up in the table's dtype; an explicit activation dtype means "every
    // parameter upcast to it".
    embed_dtype_ = opt.activation_dtype.value_or(blocks::table_dtype(embed_));
    windows_ = windows;
  }

  KvCacheSpec kv_spec(int max_seqs, int max_context, int max_chunk) const override {
    KvCacheSpec s;
    for (const auto& L : layers_)
      s.layers.push_back({L.attn.params.n_kv_heads, L.attn.params.head_dim, L.attn.params.window});
    s.dtype = info_.activation_dtype;
    s.max_seqs = max_seqs;
    s.max_context = max_context;
    s.max_chunk = max_chunk;
    return s;
  }

  void forward(const ForwardBatch& batch, KvCache& cache, Logits& out) override {
    blocks::validate_batch(batch, cache, info_.vocab);
    Backend& be = backend();
    be.set_activation_dtype(info_.activation_dtype);
    be.begin_pass();
    Tensor h = be.embed(embed_, batch.tokens, embed_dtype_);  // [T, D]
    for (const LlamaLayer& L : layers_) {
      Tensor a = L.attn.forward(be, be.rms_norm(h, L.input_norm, eps_), cache, batch.layout);
      h = be.add(h, a);
      Tensor m = L.mlp.forward(be, be.rms_norm(h, L.post_norm, eps_));
      h = be.add(h, m);
    }
    Tensor hs = be.rms_norm(be.gather_rows(h, batch.logit_rows), norm_, eps_);  // [rows, D]
    Tensor logits = be.linear(hs, tied_ ? embed_ : lm_head_);                    // [rows, vocab]
    be.to_host(logits, out.data);
    out.rows = static_cast<int64_t>(batch.logit_rows.size());
    out.vocab = info_.vocab;
    blocks::commit_batch(batch, cache);
  }

 private:
  Linear embed_, lm_head_;
  Tensor norm_;
  std::vector<LlamaLayer> layers_;
  std::vector<int> windows_;
  float eps_ = 1e-6f;
  bool tied_ = true;
  DType embed_dtype_ = DType::F32;
};

}  // namespace

namespace arch {
std::unique_ptr<Model> make_llama(const format::ModelDir& dir, Backend& be, const ModelOptions& opt) {
  return std::make_unique<LlamaModel>(dir, be, opt);
}
}  // namespace arch

}  // namespace ollmlx
