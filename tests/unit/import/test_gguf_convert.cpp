// The GGUF -> MLX converter without Python: block decoding against an element-by-element
// implementation of the reference formulas, the lossless MLX re-packings, a tiny llama model end
// to end (files, config, tokenizer, un-permuted rows), every refusal with its message, and
// random corruptions (an Error, never a crash; run under ASan).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "format/model_dir.h"
#include "gguf_builder.h"
#include "refusal_util.h"
#include "store/import/gguf.h"
#include "store/import/gguf_convert.h"
#include "store/import/gguf_quants.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/half.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Element e of a block, straight from gguf-and-ollama-import.md §2 (one element at a time).
float reference_element(gguf::TensorType t, const uint8_t* b, int e) {
  using gguf::TensorType;
  switch (t) {
    case TensorType::Q4_0: {
      const int j = e % 16, q = e < 16 ? (b[2 + j] & 15) : (b[2 + j] >> 4);
      return h2f(b) * static_cast<float>(q - 8);
    }
    case TensorType::Q4_1: {
      const int j = e % 16, q = e < 16 ? (b[4 + j] & 15) : (b[4 + j] >> 4);
      return h2f(b) * static_cast<float>(q) + h2f(b + 2);
    }
    case TensorType::Q5_0: case TensorType::Q5_1: {
      const bool one = t == TensorType::Q5_1;
      const uint8_t* qh = b + (one ? 4 : 2);
      const uint8_t* qs = qh + 4;
      uint32_t h;
      std::memcpy(&h, qh, 4);
      const int j = e % 16;
      const int q = (e < 16 ? (qs[j] & 15) : (qs[j] >> 4)) + 16 * static_cast<int>((h >> e) & 1);
      return one ? h2f(b) * static_cast<float>(q) + h2f(b + 2) : h2f(b) * static_cast<float>(q - 16);
    }
    case TensorType::Q8_0:
      return static_cast<float>(static_cast<int8_t>(b[2 + e])) * h2f(b);
    case TensorType::Q2_K: {
      const uint8_t* scales = b;
      const uint8_t* qs = b + 16;
      const int h = e / 128, r = e % 128;
      const int q = (qs[32 * h + e % 32] >> (2 * (r / 32))) & 3;
      const int sc = scales[e / 16];
      return h2f(b + 80) * static_cast<float>(sc & 15) * static_cast<float>(q) -
             h2f(b + 82) * static_cast<float>(sc >> 4);
    }
    case TensorType::Q3_K: {
      const uint8_t* hmask = b;
      const uint8_t* qs = b + 32;
      const uint8_t* scales = b + 96;
      const int h = e / 128, r = e % 128;
      const int low2 = (qs[32 * h + e % 32] >> (2 * (r / 32))) & 3;
      const int hbit = (hmask[e % 32] >> (e / 32)) & 1;
      const int q = low2 - (hbit ? 0 : 4);
      const int s = e / 16;
      const int lo4 = s < 8 ? scales[s] & 15 : scales[s - 8] >> 4;
      const int hi2 = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
      const int sc = (lo4 | hi2 << 4) - 32;
      return h2f(b + 108) * static_cast<float>(sc) * static_cast<float>(q);
    }
    case TensorType::Q4_K: case TensorType::Q5_K: {
      const bool five = t == TensorType::Q5_K;
      const uint8_t* scales = b + 4;
      const uint8_t* qs = b + (five ? 48 : 16);
      const int s = e / 32, c = e / 64, l = e % 32;
      int q = s % 2 == 0 ? qs[32 * c + l] & 15 : qs[32 * c + l] >> 4;
      if (five) q += 16 * ((b[16 + l] >> s) & 1);
      int sc, m;
      if (s < 4) {
        sc = scales[s] & 63;
        m = scales[s + 4] & 63;
      } else {
        sc = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4;
        m = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4;
      }
      return h2f(b) * static_cast<float>(sc) * static_cast<float>(q) - h2f(b + 2) * static_cast<float>(m);
    }
    case TensorType::Q6_K: {
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      const int byte = ql[64 * h + 32 * (k & 1) + l];
      const int low4 = k < 2 ? byte & 15 : byte >> 4;
      const int hi2 = (qh[32 * h + l] >> (2 * k)) & 3;
      const int q = (low4 | hi2 << 4) - 32;
      return h2f(b + 208) * static_cast<float>(scales[e / 16]) * static_cast<float>(q);
    }
    default:
      ADD_FAILURE() << "no reference";
      return 0;
  }
}

// A random block whose f16 fields (d, dmin, m) hold finite values of either sign.
std::vector<uint8_t> random_block(gguf::TensorType t, std::mt19937& rng) {
  const gguf::TypeTraits* tt = gguf::type_traits(static_cast<uint32_t>(t));
  std::vector<uint8_t> b(static_cast<size_t>(tt->type_size));
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  auto f16_at = [&](size_t at) {
    const uint16_t h = f32_to_f16(u(rng));
    std::memcpy(b.data() + at, &h, 2);
  };
  using gguf::TensorType;
  switch (t) {
    case TensorType::Q4_1: case TensorType::Q5_1: f16_at(0); f16_at(2); break;
    case TensorType::Q2_K: f16_at(80); f16_at(82); break;
    case TensorType::Q3_K: f16_at(108); break;
    case TensorType::Q4_K: case TensorType::Q5_K: f16_at(0); f16_at(2); break;
    case TensorType::Q6_K: f16_at(208); break;
    default: f16_at(0); break;
  }
  return b;
}

TEST(GgufQuants, DequantizeMatchesReferenceFormulas) {
  using gguf::TensorType;
  std::mt19937 rng(1);
  for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                       TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    const gguf::TypeTraits* tt = gguf::type_traits(static_cast<uint32_t>(t));
    SCOPED_TRACE(tt->name);
    for (int iter = 0; iter < 50; ++iter) {
      const std::vector<uint8_t> b = random_block(t, rng);
      std::vector<float> got(static_cast<size_t>(tt->block_size));
      gguf::dequantize(static_cast<uint32_t>(t), b.data(), tt->block_size, got.data());
      for (int e = 0; e < tt->block_size; ++e) {
        const float want = reference_element(t, b.data(), e);
        ASSERT_EQ(f32_to_bits(got[e]), f32_to_bits(want)) << "element " << e << ": " << got[e] << " vs " << want;
      }
    }
  }
}

TEST(GgufQuants, FloatTypes) {
  const float f[3] = {1.5f, -0.0f, 3.0e-8f};
  float out[3];
  gguf::dequantize(0, reinterpret_cast<const uint8_t*>(f), 3, out);
  EXPECT_EQ(std::memcmp(f, out, sizeof f), 0);
  const uint16_t h[2] = {f32_to_f16(0.5f), 0x7c00};
  gguf::dequantize(1, reinterpret_cast<const uint8_t*>(h), 2, out);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_TRUE(std::isinf(out[1]));
  const uint16_t bf[1] = {f32_to_bf16(-2.0f)};
  gguf::dequantize(30, reinterpret_cast<const uint8_t*>(bf), 1, out);
  EXPECT_EQ(out[0], -2.0f);
  EXPECT_FALSE(gguf::can_dequantize(16));  // IQ2_XXS
  EXPECT_FALSE(gguf::can_dequantize(26));  // I32
}

// Q4_0, Q4_1 and Q8_0 re-packed for MLX give back exactly the dequantized values:
// w = scale * q + bias with q read from MLX's little-endian bit stream.
TEST(GgufQuants, DirectMlxRepackingIsLossless) {
  using gguf::TensorType;
  std::mt19937 rng(2);
  for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0}) {
    const gguf::TypeTraits* tt = gguf::type_traits(static_cast<uint32_t>(t));
    SCOPED_TRACE(tt->name);
    const int64_t k = 32 * 4;
    std::vector<uint8_t> row;
    for (int g = 0; g < 4; ++g) {
      auto b = random_block(t, rng);
      row.insert(row.end(), b.begin(), b.end());
    }
    const int bits = t == TensorType::Q8_0 ? 8 : 4;
    std::vector<uint8_t> w(static_cast<size_t>(k * bits / 8));
    std::vector<float> scales(4), biases(4);
    if (t == TensorType::Q4_1) {
      std::vector<uint16_t> s16(4), b16(4);
      gguf::q4_1_row_to_mlx(row.data(), k, w.data(), s16.data(), b16.data());
      for (int g = 0; g < 4; ++g) {
        scales[g] = f16_to_f32(s16[g]);
        biases[g] = f16_to_f32(b16[g]);
      }
    } else if (t == TensorType::Q4_0) {
      gguf::q4_0_row_to_mlx(row.data(), k, w.data(), scales.data(), biases.data());
    } else {
      gguf::q8_0_row_to_mlx(row.data(), k, w.data(), scales.data(), biases.data());
    }
    std::vector<float> want(static_cast<size_t>(k));
    gguf::dequantize(static_cast<uint32_t>(t), row.data(), k, want.data());
    for (int64_t e = 0; e < k; ++e) {
      const uint64_t bit = static_cast<uint64_t>(e) * bits;
      const int q = (w[bit / 8] >> (bit % 8)) & ((1 << bits) - 1);
      const float got = scales[e / 32] * static_cast<float>(q) + biases[e / 32];
      ASSERT_EQ(got, want[e]) << "element " << e;  // equal values (d*0 may be -0 in GGUF's form)
    }
  }
}

// The "keep quantized" forms: exact ones give back exactly the dequantized values, Q6_K and Q2_K
// (requantized to 8-bit with MLX's algorithm) stay within half an 8-bit step.
TEST(GgufQuants, AffineRepacking) {
  using gguf::TensorType;
  std::mt19937 rng(4);
  for (TensorType t : {TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q3_K,
                       TensorType::Q6_K, TensorType::Q2_K}) {
    const uint32_t type = static_cast<uint32_t>(t);
    const gguf::TypeTraits* tt = gguf::type_traits(type);
    SCOPED_TRACE(tt->name);
    const int64_t k = 512;
    std::vector<uint8_t> row;
    for (int64_t b = 0; b < k / tt->block_size; ++b) {
      auto blk = random_block(t, rng);
      row.insert(row.end(), blk.begin(), blk.end());
    }
    const int bits = gguf::affine_bits(type);
    ASSERT_GT(bits, 0);
    std::vector<uint8_t> w(static_cast<size_t>(k * bits / 8));
    std::vector<float> scales(k / 32), biases(k / 32), want(k);
    gguf::row_to_mlx_affine(type, row.data(), k, w.data(), scales.data(), biases.data());
    gguf::dequantize(type, row.data(), k, want.data());
    for (int64_t e = 0; e < k; ++e) {
      const uint64_t bit = static_cast<uint64_t>(e) * bits;
      uint64_t v = 0;
      std::memcpy(&v, w.data() + bit / 8, std::min<size_t>(8, w.size() - bit / 8));
      const int q = static_cast<int>((v >> (bit % 8)) & ((1u << bits) - 1));
      const float got = scales[e / 32] * static_cast<float>(q) + biases[e / 32];
      if (gguf::affine_exact(type))
        ASSERT_EQ(got, want[e]) << "element " << e;
      else
        ASSERT_LE(std::fabs(got - want[e]), std::fabs(scales[e / 32]) * 1.5f + 1e-12f) << "element " << e;  // half a step; 1.5 where MLX clips the far end
    }
  }
}

TEST(GgufQuants, MlxQuantizeGroup) {
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);
  uint8_t q[32];
  float scale, bias;
  gguf::mlx_quantize_group(x, 32, 8, q, &scale, &bias);
  // |max| >= |min|: the grid hangs from the maximum with a negative scale, 0.0 exactly representable.
  EXPECT_EQ(bias, 31.0f);
  EXPECT_FLOAT_EQ(scale, -31.0f / 255.0f);
  EXPECT_EQ(q[31], 0);
  EXPECT_EQ(q[0], 255);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(scale * q[i] + bias, x[i], 31.0 / 255 / 2 + 1e-6);
  uint8_t packed[20];
  const uint8_t five[8] = {1, 2, 3, 4, 5, 6, 7, 31};
  gguf::pack_bits(five, 8, 5, packed);
  uint64_t v = 0;
  std::memcpy(&v, packed, 5);
  for (int i = 0; i < 8; ++i) EXPECT_EQ((v >> (5 * i)) & 31, five[i]);
}

struct Converted {
  fs::path dir;
  gguf::ConvertReport report;
};

Converted convert(const std::string& bytes, const std::string& tag, gguf::ConvertOptions opt = {}) {
  Converted c;
  const fs::path work = temp_dir("gguf-convert-" + tag);
  write_bytes(work / "model.gguf", bytes);
  c.dir = work / "mlx";
  fs::create_directories(c.dir);
  auto f = gguf::File::open((work / "model.gguf").string());
  c.report = gguf::convert_to_mlx(*f, c.dir, opt);
  return c;
}

Json read_json(const fs::path& p) { return Json::parse(read_bytes(p)); }

TEST(GgufConvert, TinyLlamaEndToEnd) {
  const std::string bytes = tiny_llama_gguf();
  const Converted c = convert(bytes, "tiny");
  EXPECT_EQ(c.report.architecture, "llama");
  EXPECT_EQ(c.report.layers, 2);
  EXPECT_EQ(c.report.vocab, static_cast<int64_t>(tiny_tokens().size()));
  EXPECT_FALSE(c.report.tied);
  EXPECT_TRUE(c.report.has_chat_template);
  EXPECT_EQ(c.report.general_name, "Tiny Llama");
  // Q5_0 and Q5_1 have no exact MLX form: dequantized (to float16).
  EXPECT_EQ(c.report.dequantized, (std::vector<std::string>{"blk.0.ffn_gate.weight (Q5_0 -> float16)",
                                                            "blk.0.ffn_down.weight (Q5_1 -> float16)"}));
  for (const char* f : {"config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json",
                        "tokenizer_config.json", "generation_config.json"})
    EXPECT_TRUE(fs::is_regular_file(c.dir / f)) << f;

  const Json cfg = read_json(c.dir / "config.json");
  EXPECT_EQ(cfg["model_type"], "llama");
  EXPECT_EQ(cfg["hidden_size"], 64);
  EXPECT_EQ(cfg["num_attention_heads"], 4);
  EXPECT_EQ(cfg["num_key_value_heads"], 2);
  EXPECT_EQ(cfg["head_dim"], 16);
  EXPECT_EQ(cfg["max_position_embeddings"], 512);
  EXPECT_EQ(cfg["tie_word_embeddings"], false);
  EXPECT_EQ(cfg["eos_token_id"], 2);
  EXPECT_EQ(cfg["bos_token_id"], 1);
  // Modules: embed Q8_0, lm_head Q4_0; layer 0 q Q4_1, k Q8_0, o Q4_0; layer 1 gate/up Q8_0,
  // down Q4_0: four 8-bit, four 4-bit -> the first seen (8-bit) is the default.
  EXPECT_EQ(cfg["quantization"]["bits"], 8);
  EXPECT_EQ(cfg["quantization"]["group_size"], 32);
  EXPECT_EQ(cfg["quantization"]["lm_head"]["bits"], 4);
  EXPECT_EQ(cfg["quantization"], cfg["quantization_config"]);
  EXPECT_EQ(cfg["torch_dtype"], "float16");

  // The weights open with the format layer, shapes as MLX writes them.
  const format::ModelDir md = format::ModelDir::open(c.dir.string());
  EXPECT_EQ(md.weights().get("model.embed_tokens.weight").shape, (Shape{263, 16}));  // 64 * 8 / 32
  EXPECT_EQ(md.weights().get("model.embed_tokens.scales").shape, (Shape{263, 2}));
  EXPECT_EQ(md.weights().get("model.layers.0.self_attn.q_proj.weight").shape, (Shape{64, 8}));
  EXPECT_EQ(md.weights().get("model.layers.0.mlp.gate_proj.weight").dtype, DType::F16);
  EXPECT_EQ(md.weights().get("model.layers.0.mlp.up_proj.weight").dtype, DType::BF16);

  // Q/K rows are un-permuted: HF row h*hd + a*hd/2 + b comes from GGUF row h*hd + 2b + a.
  // Layer 1's q_proj is F32, copied row by row.
  auto f = gguf::File::open((c.dir.parent_path() / "model.gguf").string());
  const gguf::TensorInfo* q = f->header().tensor("blk.1.attn_q.weight");
  const Tensor got = md.weights().get("model.layers.1.self_attn.q_proj.weight");
  const int hd = 16, row = 64 * 4;
  for (int r = 0; r < 64; ++r) {
    const int h = r / hd, a = (r % hd) / (hd / 2), b = r % (hd / 2);
    const int src = h * hd + 2 * b + a;
    ASSERT_EQ(std::memcmp(static_cast<const uint8_t*>(got.data) + r * row, q->data + src * row, row), 0) << r;
  }

  // The tokenizer loads with ollmlx's own tokenizer and knows its specials and merges.
  auto tok = tok::Tokenizer::load(c.dir.string());
  EXPECT_EQ(tok->encode("hello", false), (std::vector<int32_t>{262}));
  EXPECT_EQ(tok->encode("<|im_start|>hi", false), (std::vector<int32_t>{1, 3 + 'h', 3 + 'i'}));
  EXPECT_EQ(tok->decode({262}), "hello");
  EXPECT_TRUE(tok->is_special(2));
  const Json tcfg = read_json(c.dir / "tokenizer_config.json");
  EXPECT_EQ(tcfg["eos_token"], "<|im_end|>");
  EXPECT_EQ(tcfg["add_bos_token"], false);
  EXPECT_NE(tcfg["chat_template"].get<std::string>().find("<|im_start|>assistant"), std::string::npos);
  const Json gen = read_json(c.dir / "generation_config.json");
  EXPECT_EQ(gen, Json::parse(R"({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2})"));
  const Json index = read_json(c.dir / "model.safetensors.index.json");
  EXPECT_EQ(index["weight_map"]["lm_head.weight"], "model.safetensors");
  EXPECT_EQ(index["metadata"]["total_size"], c.report.total_size);
  fs::remove_all(c.dir.parent_path());
}

TEST(GgufConvert, TiedAndSharded) {
  TinyLlama t;
  t.tied = true;
  gguf::ConvertOptions opt;
  opt.max_shard_bytes = 20000;  // force several shards
  const Converted c = convert(tiny_llama_gguf(t), "shards", opt);
  EXPECT_TRUE(c.report.tied);
  EXPECT_GT(c.report.shards, 2);
  EXPECT_FALSE(fs::exists(c.dir / "model.safetensors"));
  EXPECT_TRUE(fs::exists(c.dir / fmt::format("model-00001-of-{:05d}.safetensors", c.report.shards)));
  EXPECT_EQ(read_json(c.dir / "config.json")["tie_word_embeddings"], true);
  const format::ModelDir md = format::ModelDir::open(c.dir.string());
  EXPECT_FALSE(md.weights().contains("lm_head.weight"));
  EXPECT_TRUE(md.weights().contains("model.layers.1.mlp.down_proj.biases"));
  fs::remove_all(c.dir.parent_path());
}

TEST(GgufConvert, KeepQuantized) {
  gguf::ConvertOptions opt;
  opt.keep_quantized = true;
  const Converted c = convert(tiny_llama_gguf(), "keep", opt);
  EXPECT_TRUE(c.report.dequantized.empty());
  EXPECT_TRUE(c.report.requantized.empty());  // Q5_0 and Q5_1 are exact
  const Json cfg = read_json(c.dir / "config.json");
  EXPECT_EQ(cfg["quantization"]["model.layers.0.mlp.gate_proj"]["bits"], 5);
  EXPECT_EQ(cfg["quantization"]["model.layers.0.mlp.down_proj"]["bits"], 5);
  const format::ModelDir md = format::ModelDir::open(c.dir.string());
  EXPECT_EQ(md.weights().get("model.layers.0.mlp.gate_proj.weight").shape, (Shape{128, 64 * 5 / 32}));
  EXPECT_EQ(md.weights().get("model.layers.0.mlp.gate_proj.scales").dtype, DType::F16);  // d, -16d exact in f16
  fs::remove_all(c.dir.parent_path());
}

// qwen2 and qwen3 (the same GGUF names as llama, no Q/K permutation; qwen2 has q/k/v biases,
// qwen3 per-head q/k norms and its own head_dim).
TEST(GgufConvert, Qwen2AndQwen3) {
  for (const std::string arch : {"qwen2", "qwen3"}) {
    SCOPED_TRACE(arch);
    TinyLlama t;
    t.arch = arch;
    const Converted c = convert(tiny_llama_gguf(t), arch);
    const Json cfg = read_json(c.dir / "config.json");
    EXPECT_EQ(cfg["model_type"], arch);
    EXPECT_EQ(cfg["architectures"][0], arch == "qwen2" ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM");
    EXPECT_EQ(cfg.contains("head_dim"), arch == "qwen3");
    EXPECT_EQ(cfg.contains("use_sliding_window"), arch == "qwen2");
    EXPECT_FALSE(cfg.contains("mlp_bias"));
    const format::ModelDir md = format::ModelDir::open(c.dir.string());
    EXPECT_EQ(md.weights().contains("model.layers.1.self_attn.k_proj.bias"), arch == "qwen2");
    EXPECT_EQ(md.weights().contains("model.layers.1.self_attn.q_norm.weight"), arch == "qwen3");
    // No Q/K permutation: layer 1's F32 q_proj is copied row for row.
    auto f = gguf::File::open((c.dir.parent_path() / "model.gguf").string());
    const gguf::TensorInfo* q = f->header().tensor("blk.1.attn_q.weight");
    const Tensor got = md.weights().get("model.layers.1.self_attn.q_proj.weight");
    EXPECT_EQ(std::memcmp(got.data, q->data, q->nbytes), 0);
    fs::remove_all(c.dir.parent_path());
  }
  struct Case {
    const char* arch;
    std::function<void(GgufBuilder&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"qwen2", [](GgufBuilder& g) { g.drop("blk.0.attn_k.bias"); }, "missing tensors: ['model.layers.0.self_attn.k_proj.bias']"},
      {"qwen2", [](GgufBuilder& g) { g.tensor("blk.0.attn_output.bias", {64}, 0, std::string(256, '\0')); },
       "unexpected bias tensor 'blk.0.attn_output.bias' for the qwen2 architecture"},
      {"qwen3", [](GgufBuilder& g) { g.drop("blk.1.attn_q_norm.weight"); }, "missing tensors: ['model.layers.1.self_attn.q_norm']"},
      {"qwen3", [](GgufBuilder& g) { g.tensor("blk.0.attn_q.bias", {64}, 0, std::string(256, '\0')); },
       "unexpected bias tensor 'blk.0.attn_q.bias' for the qwen3 architecture"},
      {"llama", [](GgufBuilder& g) { g.tensor("blk.0.attn_q_norm.weight", {16}, 0, std::string(64, '\0')); },
       "unsupported tensor 'blk.0.attn_q_norm.weight' for the llama architecture"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.message);
    TinyLlama t;
    t.arch = k.arch;
    t.edit = k.edit;
    EXPECT_THROW(
        {
          try {
            convert(tiny_llama_gguf(t), "qwen-refuse");
          } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(k.message), std::string::npos) << e.what();
            throw;
          }
        },
        Error);
  }
}

TEST(GgufConvert, DryRunWritesNothing) {
  gguf::ConvertOptions opt;
  opt.dry_run = true;
  const Converted c = convert(tiny_llama_gguf(), "dry", opt);
  EXPECT_EQ(c.report.layers, 2);
  EXPECT_TRUE(fs::is_empty(c.dir));
  fs::remove_all(c.dir.parent_path());
}

// The converter's refusals: each names what is wrong; nothing is written before the check.
TEST(GgufConvert, Refusals) {
  struct Case {
    const char* what;
    std::function<void(GgufBuilder&)> edit;
    const char* message;
  };
  auto set_str = [](const char* key, const char* v) {
    return [=](GgufBuilder& g) { g.drop(key); g.str(key, v); };
  };
  auto set_u32 = [](const char* key, uint32_t v) {
    return [=](GgufBuilder& g) { g.drop(key); g.u32(key, v); };
  };
  const std::vector<Case> cases = {
      {"arch", set_str("general.architecture", "mamba"), "unsupported architecture 'mamba' (supported: llama, qwen2, qwen3, gemma2, gemma3, phi3)"},
      {"no arch", [](GgufBuilder& g) { g.drop("general.architecture"); }, "missing required GGUF key 'general.architecture'"},
      {"wpm", set_str("tokenizer.ggml.model", "bert"), "tokenizer.ggml.model 'bert' is not supported yet"},
      {"pre", set_str("tokenizer.ggml.pre", "klingon"), "unsupported tokenizer.ggml.pre 'klingon'"},
      {"split", set_u32("split.count", 2), "split GGUF files are not supported"},
      {"layers", set_u32("llama.block_count", 0), "implausible block_count 0"},
      {"heads", set_u32("llama.attention.head_count_kv", 3), "bad head counts 4/3"},
      {"no hidden", [](GgufBuilder& g) { g.drop("llama.embedding_length"); }, "missing required GGUF key 'llama.embedding_length'"},
      {"string hidden", set_str("llama.embedding_length", "64"), "GGUF key 'llama.embedding_length' must be an integer, not string"},
      {"ffn shape", set_u32("llama.feed_forward_length", 96),
       "tensor 'blk.0.ffn_gate.weight' has shape [64, 128], expected [64, 96] from the metadata"},
      {"missing tensor", [](GgufBuilder& g) { g.drop("blk.1.ffn_down.weight"); }, "missing tensors: ['model.layers.1.mlp.down_proj']"},
      {"extra layer", [](GgufBuilder& g) { g.tensor("blk.7.attn_norm.weight", {64}, 0, std::string(256, '\0')); },
       "tensor 'blk.7.attn_norm.weight' belongs to layer 7, but block_count is 2"},
      {"unknown tensor", [](GgufBuilder& g) { g.tensor("blk.0.ssm_conv.weight", {4}, 0, std::string(16, '\0')); },
       "unsupported tensor 'blk.0.ssm_conv.weight' for the llama architecture"},
      {"iq type", [](GgufBuilder& g) { g.drop("blk.1.ffn_up.weight"); g.tensor("blk.1.ffn_up.weight", {64, 128}, 20, std::string(2 * 18 * 128, '\0')); },
       "cannot dequantize blk.1.ffn_up.weight of type IQ4_NL"},
      {"zero-sized", [](GgufBuilder& g) { g.tensor("blk.0.attn_q.bias", {int64_t{1} << 61, 0}, 8, ""); },
       "tensor 'blk.0.attn_q.bias' has shape [2305843009213693952, 0], expected [64] from the metadata"},
      {"partial rope", [](GgufBuilder& g) { g.drop("llama.rope.dimension_count"); g.u32("llama.rope.dimension_count", 8); g.u32("llama.attention.key_length", 16); },
       "partial rotary (rope.dimension_count 8 != head_dim 16)"},
      {"merge", [](GgufBuilder& g) { g.drop("tokenizer.ggml.merges"); g.strs("tokenizer.ggml.merges", {"h e", "x y"}); },
       "merge 1 'x y' uses a token that is not in the vocabulary"},
      {"bad merge", [](GgufBuilder& g) { g.drop("tokenizer.ggml.merges"); g.strs("tokenizer.ggml.merges", {"he"}); },
       "malformed merge 0 'he'"},
      {"no merges", [](GgufBuilder& g) { g.drop("tokenizer.ggml.merges"); }, "gpt2 tokenizer without tokenizer.ggml.merges"},
      {"utf8", [](GgufBuilder& g) {
         auto t = tiny_tokens();
         t[100] = "\xff\xfe";
         g.drop("tokenizer.ggml.tokens");
         g.strs("tokenizer.ggml.tokens", t);
       }, "token 100 is not valid UTF-8"},
      {"duplicate special", [](GgufBuilder& g) {
         auto t = tiny_tokens();
         t[2] = "<|im_start|>";
         g.drop("tokenizer.ggml.tokens");
         g.strs("tokenizer.ggml.tokens", t);
       }, "added token '<|im_start|>' got id 1 != 2"},
      {"rope type", set_str("llama.rope.scaling.type", "longrope"), "missing required GGUF key 'llama.rope.scaling.factor'"},
      {"rope freqs", [](GgufBuilder& g) { g.tensor("rope_freqs.weight", {8}, 0, std::string(32, '\x40')); },
       "rope_freqs.weight does not match any llama3 rope scaling"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    TinyLlama t;
    t.edit = k.edit;
    expect_refused(t, k.message);
  }
}

// Random corruptions of a whole model: the importer converts or refuses, never crashes.
TEST(GgufConvert, RandomCorruptionsNeverCrash) {
  const std::string good = tiny_llama_gguf();
  const fs::path work = temp_dir("gguf-corrupt");
  std::mt19937 rng(3);
  int converted = 0, refused = 0;
  for (int iter = 0; iter < 150; ++iter) {
    std::string s = good;
    // Aim at the header and metadata (the first few KB) most of the time.
    for (int e = 0; e < 3; ++e) {
      const size_t span = rng() % 4 ? std::min<size_t>(s.size(), 6000) : s.size();
      const size_t at = rng() % span;
      s[at] = static_cast<char>(rng() % 3 == 0 ? 0xff : rng());
    }
    write_bytes(work / "m.gguf", s);
    fs::remove_all(work / "out");
    fs::create_directories(work / "out");
    try {
      auto f = gguf::File::open((work / "m.gguf").string());
      gguf::convert_to_mlx(*f, work / "out");
      ++converted;
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(converted, 0);
  EXPECT_GT(refused, 0);
  fs::remove_all(work);
}

}  // namespace
}  // namespace ollmlx::test
