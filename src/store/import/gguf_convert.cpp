// GGUF -> MLX directory (gguf_convert.h). The structure follows tools/gguf_to_mlx.py function by
// function so that the two stay easy to compare: plan every output tensor (names, dtypes,
// shapes, the quantization block), validate, then write the shards tensor by tensor.
#include "store/import/gguf_convert.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <set>

#include "store/files.h"
#include "store/import/gguf_gemma.h"
#include "store/import/gguf_meta.h"
#include "store/store_error.h"
#include "store/import/gguf_quants.h"
#include "store/import/safetensors_writer.h"
#include "tokenizer/unicode.h"
#include "util/half.h"

namespace ollmlx::gguf {

std::string unsupported_tokenizer_reason(const Header& h);  // gguf_tokenizer.cpp

namespace {

using OJson = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr double kF16Max = 65504.0;
constexpr int64_t kMaxLayers = 4096;

// GGUF names -> Hugging Face / MLX names for the llama architecture (reference §3).
const std::map<std::string, std::string, std::less<>> kLayerMap = {
    {"attn_norm", "input_layernorm"},       {"ffn_norm", "post_attention_layernorm"},
    {"attn_q", "self_attn.q_proj"},         {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},         {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},          {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};
const std::map<std::string, std::string, std::less<>> kTopMap = {
    {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};
// qwen3's and gemma3's per-head q/k norms.
const std::map<std::string, std::string, std::less<>> kQkNormMap = {
    {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"}};
// Gemma's four norms per block (reference §3); the projections are named as in llama.
const std::map<std::string, std::string, std::less<>> kGemmaLayerMap = {
    {"attn_norm", "input_layernorm"},       {"post_attention_norm", "post_attention_layernorm"},
    {"ffn_norm", "pre_feedforward_layernorm"}, {"post_ffw_norm", "post_feedforward_layernorm"},
    {"attn_q", "self_attn.q_proj"},         {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},         {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},          {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

// phi3: fused projections, as llama.cpp and mlx-lm both keep them (attn_qkv = Q | K | V rows,
// ffn_up = gate | up rows), so they are copied as they are, without a Q/K permutation.
const std::map<std::string, std::string, std::less<>> kPhi3LayerMap = {
    {"attn_norm", "input_layernorm"},     {"ffn_norm", "post_attention_layernorm"},
    {"attn_qkv", "self_attn.qkv_proj"},   {"attn_output", "self_attn.o_proj"},
    {"ffn_up", "mlp.gate_up_proj"},       {"ffn_down", "mlp.down_proj"},
};
const char* const kRopeFactors[2] = {"rope_factors_long.weight", "rope_factors_short.weight"};

// The architectures the converter writes. llama is what tools/gguf_to_mlx.py converts (the
// byte-for-byte spec); qwen2 and qwen3 use the same GGUF names (qwen3 adds q/k norms) and, as
// llama.cpp runs them with rotate-half RoPE, no Q/K permutation (reference §3, §4). gemma2 and
// gemma3 (tools/make_gemma3_golden.py documents the facts) have four norms per block, stored
// by llama.cpp as 1 + w, and their own config (gguf_gemma.cpp).
enum class Arch { Llama, Qwen2, Qwen3, Gemma2, Gemma3, Phi3 };
std::optional<Arch> arch_of(std::string_view name) {
  if (name == "llama") return Arch::Llama;
  if (name == "qwen2") return Arch::Qwen2;
  if (name == "qwen3") return Arch::Qwen3;
  if (name == "gemma2") return Arch::Gemma2;
  if (name == "gemma3") return Arch::Gemma3;
  if (name == "phi3") return Arch::Phi3;
  return std::nullopt;
}
bool is_gemma(Arch a) { return a == Arch::Gemma2 || a == Arch::Gemma3; }
const char* arch_name(Arch a) {
  switch (a) {
    case Arch::Llama: return "llama";
    case Arch::Qwen2: return "qwen2";
    case Arch::Qwen3: return "qwen3";
    case Arch::Gemma2: return "gemma2";
    case Arch::Gemma3: return "gemma3";
    case Arch::Phi3: return "phi3";
  }
  return "?";
}
const std::map<std::string, std::string, std::less<>>& layer_map(Arch a) {
  return is_gemma(a) ? kGemmaLayerMap : a == Arch::Phi3 ? kPhi3LayerMap : kLayerMap;
}
bool has_qk_norm(Arch a) { return a == Arch::Qwen3 || a == Arch::Gemma3; }
// Ollama's own gemma3 GGUFs carry the vision tower in the model file: the text model is
// imported without it.
bool is_vision(Arch a, const std::string& name) {
  return a == Arch::Gemma3 && (name.rfind("v.", 0) == 0 || name.rfind("mm.", 0) == 0);
}

struct HfName {
  std::string module;  // "model.layers.3.self_attn.q_proj"
  std::string suffix;  // "weight" | "bias"
  std::string gguf_part;  // "attn_q", "token_embd", ...
  int64_t layer = -1;
};

HfName hf_module_name(const Meta& meta, const std::string& name, Arch arch) {
  const size_t dot = name.rfind('.');
  const std::string base = dot == std::string::npos ? "" : name.substr(0, dot);
  HfName r;
  r.suffix = dot == std::string::npos ? name : name.substr(dot + 1);
  if (dot == std::string::npos || (r.suffix != "weight" && r.suffix != "bias"))
    meta.fail("unexpected tensor '{}'", name);
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t d = base.find('.', start);
    parts.push_back(base.substr(start, d == std::string::npos ? std::string::npos : d - start));
    if (d == std::string::npos) break;
    start = d + 1;
  }
  auto all_digits = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const auto& lmap = layer_map(arch);
  const bool qk_norm = has_qk_norm(arch) && parts.size() == 3 && kQkNormMap.count(parts[2]);
  if (parts.size() == 3 && parts[0] == "blk" && all_digits(parts[1]) && (lmap.count(parts[2]) || qk_norm)) {
    // int() of the digits (leading zeros allowed); anything past block_count is refused later.
    int64_t layer = 0;
    for (char c : parts[1]) {
      layer = layer * 10 + (c - '0');
      if (layer > kMaxLayers * 16) meta.fail("tensor '{}': layer index out of range", name);
    }
    r.layer = layer;
    r.gguf_part = parts[2];
    r.module = fmt::format("model.layers.{}.{}", layer,
                           qk_norm ? kQkNormMap.find(parts[2])->second : lmap.find(parts[2])->second);
    return r;
  }
  if (parts.size() == 1 && kTopMap.count(parts[0])) {
    r.gguf_part = parts[0];
    r.module = kTopMap.find(parts[0])->second;
    return r;
  }
  meta.fail("unsupported tensor '{}' for the {} architecture", name, arch_name(arch));
}

// llama.cpp Q/K row order -> HF order: HF row h*hd + a*hd/2 + b <- GGUF row h*hd + 2b + a.
std::vector<int64_t> unpermute_map(const Meta& meta, int64_t rows, int64_t n_heads) {
  if (n_heads <= 0 || rows % n_heads || (rows / n_heads) % 2)
    meta.fail("cannot un-permute {} rows into {} heads", rows, n_heads);
  const int64_t hd = rows / n_heads, half = hd / 2;
  std::vector<int64_t> src(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t h = r / hd, w = r % hd, a = w / half, b = w % half;
    src[static_cast<size_t>(r)] = h * hd + 2 * b + a;
  }
  return src;
}

// True when v is exactly representable (and finite) in f16.
bool exact_f16(float v) {
  const float back = f16_to_f32(f32_to_f16(v));
  return std::isfinite(back) && back == v;
}

// NormMinusOne: a Gemma norm weight, stored by llama.cpp as 1 + w: float32 w (1 subtracted in
// float32, as tools/make_gemma3_golden.py does).
enum class Kind { QWeight, QScales, QBiases, Copy, Dequant, NormMinusOne };

struct Out {
  PlannedTensor t;
  const TensorInfo* src = nullptr;
  Kind kind = Kind::Copy;
  int64_t perm_heads = 0;
  bool f16 = true;  // scales/biases of Q4_0/Q8_0 and dequantized tensors: f16, else f32
  int bits = 0;
};

struct QParam {
  int bits, group_size;
  std::string dtype;  // "float16" / "float32"
};

// Counter.most_common(1) over values in insertion order: ties go to the first seen.
template <typename K>
K most_common(const std::vector<std::pair<K, int64_t>>& counts) {
  size_t best = 0;
  for (size_t i = 1; i < counts.size(); ++i)
    if (counts[i].second > counts[best].second) best = i;
  return counts[best].first;
}
template <typename K>
void count(std::vector<std::pair<K, int64_t>>& counts, const K& key, int64_t n) {
  for (auto& [k, c] : counts)
    if (k == key) {
      c += n;
      return;
    }
  counts.emplace_back(key, n);
}

std::string dtype_name(const std::string& st) {  // safetensors dtype -> numpy name
  if (st == "F16") return "float16";
  if (st == "BF16") return "bfloat16";
  return "float32";
}

// llama.cpp's rope_freqs -> HF rope_scaling {"rope_type": "llama3", ...} (reference §5.2).
OJson llama3_rope_scaling(const Meta& meta, const std::vector<float>& freqs, double base,
                          int64_t head_dim, std::optional<int64_t> meta_orig) {
  if (freqs.empty() || static_cast<int64_t>(freqs.size()) != head_dim / 2)
    meta.fail("rope_freqs.weight has {} values, expected head_dim/2 = {}", freqs.size(), head_dim / 2);
  float fmax = freqs[0];
  for (float f : freqs) fmax = std::isnan(f) || std::isnan(fmax) ? NAN : std::max(fmax, f);
  const double factor = fmax;
  std::vector<int64_t> origs;
  for (int64_t o : {meta_orig.value_or(0), int64_t{8192}, int64_t{4096}, int64_t{2048}, int64_t{16384}, int64_t{32768}})
    if (o && std::find(origs.begin(), origs.end(), o) == origs.end()) origs.push_back(o);
  const std::pair<double, double> lows_highs[] = {{1.0, 4.0}, {1.0, 2.0}, {2.0, 4.0}};
  for (int64_t orig : origs) {
    for (const auto& [low, high] : lows_highs) {
      const double low_wl = static_cast<double>(orig) / low, high_wl = static_cast<double>(orig) / high;
      bool ok = true;
      for (size_t k = 0; k < freqs.size() && ok; ++k) {
        const double i = 2.0 * static_cast<double>(k);
        const double wavelen = 2 * std::numbers::pi * std::pow(base, i / static_cast<double>(head_dim));
        double expect = 1.0;
        if (wavelen > low_wl) expect = factor;
        if (wavelen >= high_wl && wavelen <= low_wl) {
          const double s = (static_cast<double>(orig) / wavelen - low) / (high - low);
          expect = 1.0 / ((1 - s) / factor + s);
        }
        const double f = freqs[k];
        ok = std::fabs(expect - f) <= 1e-4 + 1e-3 * std::fabs(f);  // np.allclose(expect, freqs)
      }
      if (ok)
        return OJson{{"rope_type", "llama3"}, {"factor", factor}, {"low_freq_factor", low},
                     {"high_freq_factor", high}, {"original_max_position_embeddings", orig}};
    }
  }
  meta.fail("rope_freqs.weight does not match any llama3 rope scaling that mlx-lm can express");
}

std::string quant_dtype(bool f16) { return f16 ? "F16" : "F32"; }

void put_f16_or_f32(std::vector<uint8_t>& out, const float* v, size_t n, bool f16) {
  const size_t at = out.size();
  if (f16) {
    out.resize(at + 2 * n);
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = f32_to_f16(v[i]);
      std::memcpy(out.data() + at + 2 * i, &h, 2);
    }
  } else {
    out.resize(at + 4 * n);
    std::memcpy(out.data() + at, v, 4 * n);
  }
}

// The bytes of one planned tensor.
void produce(const Meta& meta, const Out& o, std::vector<uint8_t>& out) {
  const TensorInfo& t = *o.src;
  const TypeTraits* tt = type_traits(t.type);
  if (o.kind == Kind::QWeight || o.kind == Kind::QScales || o.kind == Kind::QBiases) {
    const int64_t k = t.ne[0], n = t.ne[1];
    const int64_t row_bytes = k / tt->block_size * tt->type_size, groups = k / 32;
    std::vector<int64_t> perm;
    if (o.perm_heads) perm = unpermute_map(meta, n, o.perm_heads);
    std::vector<uint8_t> w(static_cast<size_t>(k * o.bits / 8));
    std::vector<float> sc(static_cast<size_t>(groups)), bi(static_cast<size_t>(groups));
    std::vector<uint16_t> sc16(static_cast<size_t>(groups)), bi16(static_cast<size_t>(groups));
    out.reserve(o.t.nbytes);
    for (int64_t r = 0; r < n; ++r) {
      const int64_t sr = perm.empty() ? r : perm[static_cast<size_t>(r)];
      const uint8_t* src = t.data + sr * row_bytes;
      const bool raw16 = t.ttype() == TensorType::Q4_1;
      switch (t.ttype()) {
        case TensorType::Q4_0: q4_0_row_to_mlx(src, k, w.data(), sc.data(), bi.data()); break;
        case TensorType::Q4_1: q4_1_row_to_mlx(src, k, w.data(), sc16.data(), bi16.data()); break;
        case TensorType::Q8_0: q8_0_row_to_mlx(src, k, w.data(), sc.data(), bi.data()); break;
        default: row_to_mlx_affine(t.type, src, k, w.data(), sc.data(), bi.data()); break;
      }
      if (o.kind == Kind::QWeight) {
        out.insert(out.end(), w.begin(), w.end());
      } else if (raw16) {
        const std::vector<uint16_t>& v = o.kind == Kind::QScales ? sc16 : bi16;
        const size_t at = out.size();
        out.resize(at + 2 * v.size());
        std::memcpy(out.data() + at, v.data(), 2 * v.size());
      } else {
        const std::vector<float>& v = o.kind == Kind::QScales ? sc : bi;
        put_f16_or_f32(out, v.data(), v.size(), o.f16);
      }
    }
    return;
  }
  // Copy / Dequant: rows along the first HF axis (ne's last), permuted for q/k.
  const std::vector<int64_t> shape = t.hf_shape();
  const int64_t rows = shape.empty() ? 1 : shape[0];
  const int64_t per_row = rows == 0 ? 0 : t.elements / rows;
  std::vector<int64_t> perm;
  if (o.perm_heads) perm = unpermute_map(meta, rows, o.perm_heads);
  if (o.kind == Kind::Copy) {
    const uint64_t row_bytes = rows == 0 ? 0 : t.nbytes / static_cast<uint64_t>(rows);
    out.resize(t.nbytes);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t sr = perm.empty() ? r : perm[static_cast<size_t>(r)];
      std::memcpy(out.data() + r * row_bytes, t.data + sr * row_bytes, row_bytes);
    }
    return;
  }
  std::vector<float> f(static_cast<size_t>(t.elements));
  dequantize(t.type, t.data, t.elements, f.data());
  if (o.kind == Kind::NormMinusOne)
    for (float& x : f) x -= 1.0f;
  if (!perm.empty()) {
    std::vector<float> p(f.size());
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(p.data() + r * per_row, f.data() + perm[static_cast<size_t>(r)] * per_row,
                  static_cast<size_t>(per_row) * 4);
    f.swap(p);
  }
  put_f16_or_f32(out, f.data(), f.size(), o.f16);
}

std::string join_missing(const std::vector<std::string>& missing) {
  std::string s = "[";
  for (size_t i = 0; i < missing.size() && i < 8; ++i) s += (i ? ", '" : "'") + missing[i] + "'";
  s += "]";
  if (missing.size() > 8) s += " ...";
  return s;
}

}  // namespace

std::string unsupported_reason(const Header& h) {
  const Value* arch = h.find("general.architecture");
  if (!arch) return "missing required GGUF key 'general.architecture'";
  if (!arch->is_string()) return "general.architecture is not a string";
  if (!arch_of(arch->s))
    return fmt::format("unsupported architecture '{}' (supported: llama, qwen2, qwen3, gemma2, gemma3, phi3)",
                       tok::unicode::to_valid_utf8(arch->s.substr(0, 64)));
  if (const Value* sc = h.find("split.count"); sc && sc->f != 0 && sc->f != 1)
    return "split GGUF files are not supported";
  return unsupported_tokenizer_reason(h);
}

ConvertReport convert_to_mlx(const File& file, const fs::path& out_dir, const ConvertOptions& options) {
  const Header& h = file.header();
  const Meta meta(h, file.path());
  auto log = [&](const std::string& s) {
    if (options.log) options.log(s);
  };
  ConvertReport rep;
  const Value& arch_v = meta.req("general.architecture");
  if (!arch_v.is_string()) meta.fail("general.architecture must be a string");
  rep.architecture = std::string(arch_v.s);
  if (const std::string why = unsupported_reason(h); !why.empty()) meta.fail("{}", why);
  const Arch arch = *arch_of(rep.architecture);
  const bool llama = arch == Arch::Llama;
  if (auto n = meta.opt_string("general.name")) rep.general_name = std::string(*n);

  const std::string A = rep.architecture + ".";
  const int64_t hidden = meta.req_int(A + "embedding_length");
  const int64_t n_layers = meta.req_int(A + "block_count");
  if (!(0 < n_layers && n_layers <= kMaxLayers)) meta.fail("implausible block_count {}", n_layers);
  const Value& n_head_v = meta.req(A + "attention.head_count");
  const Value* n_kv_v = meta.get(A + "attention.head_count_kv");
  if (n_head_v.is_array() || (n_kv_v && n_kv_v->is_array()))
    meta.fail("per-layer head counts are not supported");
  const int64_t n_head = meta.as_int(A + "attention.head_count", n_head_v);
  const int64_t n_kv = n_kv_v ? meta.as_int(A + "attention.head_count_kv", *n_kv_v) : n_head;
  if (n_head <= 0 || n_kv <= 0 || n_head % n_kv) meta.fail("bad head counts {}/{}", n_head, n_kv);
  int64_t head_dim = meta.opt_int(A + "attention.key_length").value_or(0);
  if (!head_dim && arch != Arch::Phi3) head_dim = meta.opt_int(A + "rope.dimension_count").value_or(0);  // phi3: partial
  if (!head_dim) head_dim = hidden / n_head;
  if (auto vkey = meta.opt_int(A + "attention.value_length"); vkey && *vkey != head_dim)
    meta.fail("key_length != value_length is not supported for {}", rep.architecture);
  if (arch == Arch::Qwen2 && head_dim * n_head != hidden)  // mlx-lm's qwen2 takes hidden/heads
    meta.fail("qwen2 with head_dim {} != hidden/heads is not supported", head_dim);
  // phi3 may rotate part of each head (Phi-4-mini: 3/4): partial_rotary_factor in its config.
  const int64_t rope_dims = meta.opt_int(A + "rope.dimension_count").value_or(head_dim);
  if (arch == Arch::Phi3 && (rope_dims <= 0 || rope_dims > head_dim || rope_dims % 2))
    meta.fail("rope.dimension_count {} does not fit head_dim {}", rope_dims, head_dim);
  if (arch == Arch::Phi3 && head_dim * n_head != hidden)  // mlx-lm's phi3 takes hidden/heads
    meta.fail("phi3 with head_dim {} != hidden/heads is not supported", head_dim);
  if (auto rd = meta.opt_int(A + "rope.dimension_count"); rd && *rd != head_dim && arch != Arch::Phi3)
    meta.fail("partial rotary (rope.dimension_count {} != head_dim {}) is not supported by mlx-lm llama",
              *rd, head_dim);
  const int64_t ffn = meta.req_int(A + "feed_forward_length");
  const double eps = meta.opt_float(A + "attention.layer_norm_rms_epsilon", 1e-5);
  const double rope_theta = meta.opt_float(A + "rope.freq_base", arch == Arch::Gemma3 ? 1e6 : 10000.0);
  const Value* ctx_v = meta.get(A + "context_length");
  const int64_t ctx_len = ctx_v ? meta.as_int(A + "context_length", *ctx_v) : 0;
  // Sizes the writer relies on (beyond the Python, which leaves these to mlx-lm's loader).
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  for (auto [what, v] : {std::pair<const char*, int64_t>{"embedding_length", hidden}, {"head dim", head_dim},
                         {"feed_forward_length", ffn}, {"head_count", n_head}})
    if (v <= 0 || v > kMaxDim) meta.fail("implausible {} {}", what, v);

  const TensorInfo* embd = h.tensor("token_embd.weight");
  if (!embd) meta.fail("missing token_embd.weight");
  if (embd->ne.size() < 2) meta.fail("token_embd.weight must have 2 dimensions");
  int64_t vocab = meta.opt_int(A + "vocab_size").value_or(0);
  if (!vocab) vocab = embd->ne[1];
  if (embd->ne[1] != vocab) meta.fail("token_embd rows != vocab_size");
  const bool tied = h.tensor("output.weight") == nullptr;
  if (arch == Arch::Gemma2 && !tied) meta.fail("gemma2 with its own output.weight is not supported (the head is tied)");
  const OJson gemma = is_gemma(arch) ? gemma_config(meta, arch == Arch::Gemma3, n_layers, hidden, n_head, head_dim)
                                     : OJson(nullptr);

  // ---- every tensor's name and shape against the metadata, before any size is computed from
  // them (a tensor with a zero dimension has no data, so its other dimensions are unchecked by
  // the reader)
  if (vocab <= 0 || vocab > (int64_t{1} << 31)) meta.fail("implausible vocab_size {}", vocab);
  const int64_t q_rows = n_head * head_dim, kv_rows = n_kv * head_dim;
  for (const TensorInfo& t : h.tensors) {
    if ((t.name == "rope_freqs.weight" && llama) || is_vision(arch, t.name)) continue;
    if (arch == Arch::Phi3 && (t.name == kRopeFactors[0] || t.name == kRopeFactors[1])) {
      if (t.ne != std::vector<int64_t>{rope_dims / 2}) meta.fail("{} must have rope.dimension_count/2 values", t.name);
      continue;
    }
    const HfName hn = hf_module_name(meta, t.name, arch);
    if (hn.layer >= n_layers)
      meta.fail("tensor '{}' belongs to layer {}, but block_count is {}", t.name, hn.layer, n_layers);
    std::vector<int64_t> want;  // ggml ne
    const std::string& p = hn.gguf_part;
    if (hn.suffix == "weight") {
      if (p == "token_embd" || p == "output") want = {hidden, vocab};
      else if (p == "output_norm" || p == "attn_norm" || p == "ffn_norm" || p == "post_attention_norm" ||
               p == "post_ffw_norm")
        want = {hidden};
      else if (p == "attn_q") want = {hidden, q_rows};
      else if (p == "attn_k" || p == "attn_v") want = {hidden, kv_rows};
      else if (p == "attn_output") want = {q_rows, hidden};
      else if (p == "ffn_up" && arch == Arch::Phi3) want = {hidden, 2 * ffn};
      else if (p == "attn_qkv") want = {hidden, q_rows + 2 * kv_rows};
      else if (p == "ffn_gate" || p == "ffn_up") want = {hidden, ffn};
      else if (p == "ffn_down") want = {ffn, hidden};
      else if (p == "attn_q_norm" || p == "attn_k_norm") want = {head_dim};
    } else {
      const bool allowed = llama ? (p == "attn_q" || p == "attn_k" || p == "attn_v" || p == "attn_output")
                                 : arch == Arch::Qwen2 && (p == "attn_q" || p == "attn_k" || p == "attn_v");
      if (!allowed) meta.fail("unexpected bias tensor '{}' for the {} architecture", t.name, rep.architecture);
      if (p == "attn_q") want = {q_rows};
      else if (p == "attn_k" || p == "attn_v") want = {kv_rows};
      else if (p == "attn_output") want = {hidden};
    }
    if (t.ne != want) {
      auto shape = [](const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); };
      meta.fail("tensor '{}' has shape {}, expected {} from the metadata", t.name, shape(t.ne), shape(want));
    }
  }
  // ---- plan every output tensor
  int skipped_vision = 0;
  std::vector<Out> outs;
  std::set<std::string> out_names;
  std::vector<std::pair<std::string, QParam>> qparams;  // module -> params, tensor order
  std::vector<std::pair<std::string, int64_t>> float_dtypes;
  OJson rope_scaling;  // null unless rope_freqs / rope.scaling say otherwise
  std::vector<float> scratch;
  auto add = [&](Out o) {
    if (!out_names.insert(o.t.name).second) meta.fail("two tensors map to '{}'", o.t.name);
    outs.push_back(std::move(o));
  };
  for (const TensorInfo& t : h.tensors) {
    rep.tensor_types[type_name(t.type)] += 1;
    if (is_vision(arch, t.name)) {
      ++skipped_vision;
      continue;
    }
    if (t.name == "rope_freqs.weight" && llama) {
      if (!can_dequantize(t.type)) meta.fail("rope_freqs.weight has type {}", type_name(t.type));
      std::vector<float> freqs(static_cast<size_t>(t.elements));
      dequantize(t.type, t.data, t.elements, freqs.data());
      rope_scaling = llama3_rope_scaling(meta, freqs, rope_theta, head_dim,
                                         meta.opt_int(A + "rope.scaling.original_context_length"));
      continue;
    }
    if (arch == Arch::Phi3 && (t.name == kRopeFactors[0] || t.name == kRopeFactors[1])) {
      if (!can_dequantize(t.type)) meta.fail("{} has type {}", t.name, type_name(t.type));
      std::vector<float> f(static_cast<size_t>(t.elements));
      dequantize(t.type, t.data, t.elements, f.data());
      if (rope_scaling.is_null()) rope_scaling = OJson{{"type", "longrope"}};
      rope_scaling[t.name == kRopeFactors[0] ? "long_factor" : "short_factor"] = f;
      continue;
    }
    const HfName hn = hf_module_name(meta, t.name, arch);
    if (hn.layer >= n_layers)
      meta.fail("tensor '{}' belongs to layer {}, but block_count is {}", t.name, hn.layer, n_layers);
    int64_t perm_heads = 0;  // llama only: its GGUF rows are permuted for interleaved RoPE
    if (llama && hn.gguf_part == "attn_q") perm_heads = n_head;
    if (llama && hn.gguf_part == "attn_k") perm_heads = n_kv;
    const TensorType qt = t.ttype();
    if (is_gemma(arch) && hn.gguf_part.size() > 4 && hn.gguf_part.ends_with("norm")) {
      if (!can_dequantize(t.type)) meta.fail("norm {} has type {}", t.name, type_name(t.type));
      Out o;
      o.src = &t;
      o.kind = Kind::NormMinusOne;
      o.f16 = false;
      o.t = {hn.module + ".weight", "F32", t.hf_shape(), static_cast<uint64_t>(t.elements) * 4};
      count(float_dtypes, std::string("float32"), t.elements);
      add(std::move(o));
      continue;
    }
    const bool direct = qt == TensorType::Q4_0 || qt == TensorType::Q4_1 || qt == TensorType::Q8_0;
    const bool affine = !direct && options.keep_quantized && affine_bits(t.type) != 0 &&
                        (options.requantize || affine_exact(t.type));
    if ((direct || affine) && hn.suffix == "weight" && t.ne.size() == 2) {
      const int64_t k = t.ne[0], n = t.ne[1];
      if (perm_heads) unpermute_map(meta, n, perm_heads);  // validates
      const int bits = affine ? affine_bits(t.type) : qt == TensorType::Q8_0 ? 8 : 4;
      bool f16 = true;
      if (affine) {  // f16 scales/biases when every one is exact in f16 (Q5_0/Q5_1 usually)
        const int64_t row_bytes = k / type_traits(t.type)->block_size * type_traits(t.type)->type_size;
        std::vector<uint8_t> w(static_cast<size_t>(k * bits / 8));
        std::vector<float> sc(static_cast<size_t>(k / 32)), bi(static_cast<size_t>(k / 32));
        for (int64_t r = 0; r < n && f16; ++r) {
          row_to_mlx_affine(t.type, t.data + r * row_bytes, k, w.data(), sc.data(), bi.data());
          for (size_t g = 0; g < sc.size() && f16; ++g) f16 = exact_f16(sc[g]) && exact_f16(bi[g]);
        }
        if (!affine_exact(t.type))
          rep.requantized.push_back(fmt::format("{} ({} -> {}-bit)", t.name, type_name(t.type), bits));
      } else if (qt != TensorType::Q4_1) {  // f16 scales/biases unless some value is not exact in f16
        const float mult = qt == TensorType::Q8_0 ? -128.0f : -8.0f;
        const int64_t bs = type_traits(t.type)->type_size;
        for (int64_t b = 0; b < t.elements / 32 && f16; ++b) {
          uint16_t d16;
          std::memcpy(&d16, t.data + b * bs, 2);
          const float d = f16_to_f32(d16);
          f16 = exact_f16(d) && exact_f16(mult * d);
        }
      }
      const std::string dt = qt == TensorType::Q4_1 ? "F16" : quant_dtype(f16);
      Out w{{hn.module + ".weight", "U32", {n, k * bits / 32}, static_cast<uint64_t>(n * k * bits / 8)},
            &t, Kind::QWeight, perm_heads, f16, bits};
      const uint64_t sb = static_cast<uint64_t>(n * (k / 32)) * (dt == "F16" ? 2 : 4);
      Out s{{hn.module + ".scales", dt, {n, k / 32}, sb}, &t, Kind::QScales, perm_heads, f16, bits};
      Out b{{hn.module + ".biases", dt, {n, k / 32}, sb}, &t, Kind::QBiases, perm_heads, f16, bits};
      add(std::move(w));
      add(std::move(s));
      add(std::move(b));
      qparams.emplace_back(hn.module, QParam{bits, 32, dtype_name(dt)});
      continue;
    }
    Out o;
    o.src = &t;
    o.perm_heads = perm_heads;
    o.t.name = hn.module + "." + hn.suffix;
    o.t.shape = t.hf_shape();
    if (perm_heads) unpermute_map(meta, o.t.shape.empty() ? 1 : o.t.shape[0], perm_heads);
    if (qt == TensorType::F32 || qt == TensorType::F16 || qt == TensorType::BF16) {
      o.kind = Kind::Copy;
      o.t.dtype = qt == TensorType::F32 ? "F32" : qt == TensorType::F16 ? "F16" : "BF16";
      o.t.nbytes = t.nbytes;
    } else {
      if (!can_dequantize(t.type))
        meta.fail("cannot dequantize {} of type {}: not supported by ollmlx's importer yet", t.name,
                  type_name(t.type));
      o.kind = Kind::Dequant;
      bool f16 = !options.dequant_f32;
      if (f16) {  // float16 when every value fits (|x| <= 65504, no NaN), as the Python decides
        scratch.resize(static_cast<size_t>(t.elements));
        dequantize(t.type, t.data, t.elements, scratch.data());
        for (float x : scratch)
          if (!(std::fabs(static_cast<double>(x)) <= kF16Max)) {
            f16 = false;
            break;
          }
      }
      o.f16 = f16;
      o.t.dtype = f16 ? "F16" : "F32";
      o.t.nbytes = static_cast<uint64_t>(t.elements) * (f16 ? 2 : 4);
      rep.dequantized.push_back(fmt::format("{} ({} -> {})", t.name, type_name(t.type),
                                            f16 ? "float16" : "float32"));
    }
    count(float_dtypes, dtype_name(o.t.dtype), t.elements);
    add(std::move(o));
  }
  scratch.clear();
  scratch.shrink_to_fit();

  // ---- quantization block
  OJson quantization;
  if (!qparams.empty()) {
    std::vector<std::pair<std::pair<int, int>, int64_t>> bits_counts;
    for (const auto& [m, q] : qparams) count(bits_counts, std::pair<int, int>{q.bits, q.group_size}, 1);
    const auto def = most_common(bits_counts);
    quantization = OJson{{"group_size", def.second}, {"bits", def.first}, {"mode", "affine"}};
    std::vector<std::pair<std::string, QParam>> sorted = qparams;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [m, q] : sorted)
      if (std::pair<int, int>{q.bits, q.group_size} != def)
        quantization[m] = OJson{{"group_size", q.group_size}, {"bits", q.bits}, {"mode", "affine"}};
  }
  std::string torch_dtype;
  if (!qparams.empty()) {
    std::vector<std::pair<std::string, int64_t>> sd;
    for (const auto& [m, q] : qparams) count(sd, q.dtype, 1);
    torch_dtype = most_common(sd);
  } else {
    std::vector<std::pair<std::string, int64_t>> by_count = float_dtypes;
    std::stable_sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    torch_dtype = by_count.empty() ? "float16" : by_count[0].first;
  }

  // ---- sanity: expected tensors present, with the shapes the config implies
  std::vector<std::string> expected = {"model.embed_tokens", "model.norm"};
  if (!tied) expected.push_back("lm_head");
  for (int64_t i = 0; i < n_layers; ++i) {
    for (const auto& [g, m] : layer_map(arch)) {
      (void)g;
      expected.push_back(fmt::format("model.layers.{}.{}", i, m));
    }
    if (has_qk_norm(arch))
      for (const auto& [g, m] : kQkNormMap) {
        (void)g;
        expected.push_back(fmt::format("model.layers.{}.{}", i, m));
      }
  }
  // kLayerMap iterates in key order; the Python lists in its own order: only the set matters.
  std::vector<std::string> missing;
  for (const std::string& m : expected)
    if (!out_names.count(m + ".weight")) missing.push_back(m);
  if (arch == Arch::Qwen2)  // q/k/v biases are part of qwen2
    for (int64_t i = 0; i < n_layers; ++i)
      for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"})
        if (!out_names.count(fmt::format("model.layers.{}.{}.bias", i, m)))
          missing.push_back(fmt::format("model.layers.{}.{}.bias", i, m));
  if (!missing.empty()) meta.fail("missing tensors: {}", join_missing(missing));
  const bool attention_bias = out_names.count("model.layers.0.self_attn.q_proj.bias") > 0;
  if (arch == Arch::Phi3 && rope_scaling.is_object() && !rope_scaling.contains("long_factor"))
    meta.fail("{} without {} cannot be used (mlx-lm's longrope needs the long factors)", kRopeFactors[1], kRopeFactors[0]);
  if (rope_scaling.is_null()) {
    if (auto stype = meta.opt_string(A + "rope.scaling.type"); stype && !stype->empty() && *stype != "none") {
      const double factor = meta.as_float(A + "rope.scaling.factor", meta.req(A + "rope.scaling.factor"));
      if (*stype == "linear") {
        rope_scaling = OJson{{"type", "linear"}, {"factor", factor}};
      } else if (*stype == "yarn") {
        rope_scaling = OJson{{"rope_type", "yarn"}, {"factor", factor}};
        if (auto orig = meta.opt_int(A + "rope.scaling.original_context_length"); orig && *orig)
          rope_scaling["original_max_position_embeddings"] = *orig;
        for (auto [gk, hk] : {std::pair<const char*, const char*>{"yarn_beta_fast", "beta_fast"},
                              {"yarn_beta_slow", "beta_slow"}})
          if (const Value* v = meta.get(A + "rope.scaling." + gk))
            rope_scaling[hk] = meta.as_float(gk, *v);
      } else {
        meta.fail("unsupported rope scaling type '{}'", tok::unicode::to_valid_utf8(*stype));
      }
    }
  }
  // The tokenizer, validated before anything is written.
  const TokenizerFiles tok = build_tokenizer_files(h, file.path(), ctx_v);
  rep.layers = n_layers;
  rep.hidden = hidden;
  rep.heads = n_head;
  rep.kv_heads = n_kv;
  rep.head_dim = head_dim;
  rep.vocab = vocab;
  rep.tied = tied;
  rep.quantization = quantization;
  if (const Value* ct = h.find("tokenizer.chat_template"); ct && ct->is_string() && !ct->s.empty())
    rep.has_chat_template = true;
  if (options.dry_run) return rep;

  // ---- weights: sorted names, mlx-lm's make_shards, MLX's writer
  std::sort(outs.begin(), outs.end(), [](const Out& a, const Out& b) { return a.t.name < b.t.name; });
  std::vector<PlannedTensor> planned;
  for (const Out& o : outs) planned.push_back(o.t);
  const MlxShards written = write_mlx_shards(
      out_dir, planned, options.max_shard_bytes, log, [&](size_t i, std::vector<uint8_t>& buf) {
        if (options.cancel && options.cancel->load())
          throw store::StoreError(store::StoreErrorKind::Canceled, "import canceled");
        produce(meta, outs[i], buf);
      });
  rep.shards = written.files;
  rep.total_size = written.total_size;
  int64_t n_params = 0;
  for (const Out& o : outs) {
    if (o.kind == Kind::QScales || o.kind == Kind::QBiases) continue;
    int64_t elems = 1;
    for (int64_t d : o.t.shape) elems *= d;
    n_params += o.kind == Kind::QWeight ? elems * 32 / o.bits : elems;
  }
  rep.total_parameters = n_params;
  // tools/gguf_to_mlx.py ends the file with a newline (the parity tests compare bytes).
  store::write_file_atomic(out_dir / "model.safetensors.index.json", written.index_json(n_params) + "\n");

  // ---- tokenizer + generation config
  store::write_file_atomic(out_dir / "tokenizer.json", tok.tokenizer_json);
  store::write_file_atomic(out_dir / "tokenizer_config.json", tok.tokenizer_config_json);
  const OJson& ids = tok.ids;
  OJson eos_ids = ids["eos_ids"];
  // Gemma's chat turns end with <end_of_turn>, which its HF generation configs list as an EOS.
  if (is_gemma(arch))
    if (const Value* tv = h.find("tokenizer.ggml.tokens"); tv && tv->is_string_array())
      for (size_t i = 0; i < tv->strings.size() && i < static_cast<size_t>(vocab); ++i)
        if (tv->strings[i] == "<end_of_turn>") {
          if (std::find(eos_ids.begin(), eos_ids.end(), OJson(i)) == eos_ids.end()) eos_ids.push_back(i);
          break;
        }
  const OJson eos = eos_ids.size() == 1 ? eos_ids[0] : eos_ids;

  OJson config;
  config["architectures"] = OJson::array({llama ? "LlamaForCausalLM" : arch == Arch::Qwen2 ? "Qwen2ForCausalLM"
                                          : arch == Arch::Phi3 ? "Phi3ForCausalLM" : "Qwen3ForCausalLM"});
  config["model_type"] = rep.architecture;
  config["hidden_size"] = hidden;
  config["num_hidden_layers"] = n_layers;
  config["intermediate_size"] = ffn;
  config["num_attention_heads"] = n_head;
  config["num_key_value_heads"] = n_kv;
  if (arch != Arch::Qwen2) config["head_dim"] = head_dim;
  config["rms_norm_eps"] = eps;
  config["rope_theta"] = rope_theta;
  if (!rope_scaling.is_null()) config["rope_scaling"] = rope_scaling;
  config["max_position_embeddings"] = ctx_len ? ctx_len : llama ? 4096 : 32768;
  config["vocab_size"] = vocab;
  config["tie_word_embeddings"] = tied;
  if (arch != Arch::Qwen2) config["attention_bias"] = attention_bias;
  if (llama) config["mlp_bias"] = false;
  if (arch == Arch::Qwen2) config["use_sliding_window"] = false;
  if (arch == Arch::Phi3) {
    if (rope_dims != head_dim) config["partial_rotary_factor"] = static_cast<double>(rope_dims) / static_cast<double>(head_dim);
    if (auto orig = meta.opt_int(A + "rope.scaling.original_context_length"); orig && *orig > 0)
      config["original_max_position_embeddings"] = *orig;
  }
  if (is_gemma(arch)) {
    for (const auto& [k, v] : gemma.items()) config[k] = v;
  } else {
    config["hidden_act"] = "silu";
  }
  config["torch_dtype"] = torch_dtype;
  if (!ids["bos_token_id"].is_null()) config["bos_token_id"] = ids["bos_token_id"];
  config["eos_token_id"] = eos;
  if (!ids["pad_token_id"].is_null()) config["pad_token_id"] = ids["pad_token_id"];
  if (!quantization.is_null()) {
    config["quantization"] = quantization;
    config["quantization_config"] = quantization;
  }
  std::vector<std::string> keys;
  for (auto& [k, v] : config.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  OJson sorted_config;
  for (const std::string& k : keys) sorted_config[k] = config[k];
  store::write_file_atomic(out_dir / "config.json",
                           sorted_config.dump(4, ' ', false, OJson::error_handler_t::replace) + "\n");

  OJson gen;
  if (!ids["bos_token_id"].is_null()) gen["bos_token_id"] = ids["bos_token_id"];
  gen["eos_token_id"] = eos;
  if (!ids["pad_token_id"].is_null()) gen["pad_token_id"] = ids["pad_token_id"];
  store::write_file_atomic(out_dir / "generation_config.json", gen.dump(2) + "\n");

  log(fmt::format("arch={} layers={} hidden={} heads={}/{} head_dim={} vocab={} tied={}", rep.architecture,
                  n_layers, hidden, n_head, n_kv, head_dim, vocab, tied));
  if (!rep.requantized.empty())
    log(fmt::format("requantized {} tensor(s) to MLX 8-bit (not exact): {}", rep.requantized.size(),
                    fmt::join(rep.requantized, ", ")));
  if (rep.dequantized.empty())
    log("no tensor needed dequantization");
  else
    log(fmt::format("dequantized {} tensor(s) with no exact MLX form: {}", rep.dequantized.size(),
                    fmt::join(rep.dequantized, ", ")));
  if (skipped_vision) log(fmt::format("skipped {} vision tensor(s) (v.*, mm.*): text model only", skipped_vision));
  return rep;
}

}  // namespace ollmlx::gguf
