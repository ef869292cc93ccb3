// SentencePiece tokenizers and the Gemma architectures in the GGUF importer, without Python or
// fixtures: a tiny SentencePiece vocabulary (gguf_builder.h) whose encodings are worked out by
// hand with SentencePiece's BPE rule (merge the adjacent pair whose result scores highest),
// tiny gemma2 / gemma3 models converted end to end (config, norms stored as 1 + w), and the
// refusals. The real vocabularies (Gemma 3, Llama 2) are checked in test_import_gemma.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "format/model_dir.h"
#include "gguf_builder.h"
#include "refusal_util.h"
#include "store/import/gguf.h"
#include "store/import/gguf_convert.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

// A GGUF holding only the tiny SentencePiece tokenizer, rebuilt into `dir`.
std::unique_ptr<tok::Tokenizer> tiny_spm(const fs::path& dir, bool add_space_prefix,
                                         const std::function<void(GgufBuilder&)>& edit = {}) {
  GgufBuilder g;
  g.str("general.architecture", "gemma3");
  add_spm_tokenizer(g, tiny_spm_pieces(), add_space_prefix);
  if (edit) edit(g);
  write_bytes(dir / "t.gguf", g.build());
  auto f = gguf::File::open((dir / "t.gguf").string());
  const gguf::TokenizerFiles files = gguf::build_tokenizer_files(f->header(), (dir / "t.gguf").string(), nullptr);
  write_bytes(dir / "tokenizer.json", files.tokenizer_json);
  write_bytes(dir / "tokenizer_config.json", files.tokenizer_config_json);
  return tok::Tokenizer::load(dir.string());
}

TEST(GgufSpm, TinyVocabularyEncodesAsSentencePiece) {
  const fs::path dir = temp_dir("gguf-spm");
  const auto tok = tiny_spm(dir, false);
  // "hello▁world": ll, he, llo, hello, then ▁w, or, ld, ▁wor, ▁world (scores -9 .. -18).
  EXPECT_EQ(tok->encode("hello world", false), (Ids{275, 281}));
  EXPECT_EQ(tok->encode("hello world", true), (Ids{2, 275, 281}));  // add_bos_token
  // Two spaces: the USER_DEFINED "▁▁" (written "  " by llama.cpp) merges first (score 0);
  // 'i' is not a piece: byte fallback <0x69>.
  EXPECT_EQ(tok->encode("  hi", false), (Ids{263, 265, 6 + 0x69}));
  // USER_DEFINED "\n\n" is matched in the text as an added token; é is two byte tokens.
  EXPECT_EQ(tok->encode("a\n\nb", false), (Ids{6 + 'a', 262, 6 + 'b'}));
  EXPECT_EQ(tok->encode("\xc3\xa9", false), (Ids{6 + 0xC3, 6 + 0xA9}));
  EXPECT_EQ(tok->encode("<start_of_turn>hello<end_of_turn>", false), (Ids{4, 275, 5}));
  EXPECT_TRUE(tok->is_special(4));
  EXPECT_FALSE(tok->is_special(262));
  EXPECT_EQ(tok->decode({275, 281, 6 + 0xC3, 6 + 0xA9, 263}), "hello world\xc3\xa9  ");

  const Json tj = Json::parse(read_bytes(dir / "tokenizer.json"));
  EXPECT_EQ(tj["model"]["type"], "BPE");
  EXPECT_EQ(tj["model"]["byte_fallback"], true);
  EXPECT_EQ(tj["model"]["unk_token"], "<unk>");
  EXPECT_EQ(tj["model"]["vocab"]["\xe2\x96\x81\xe2\x96\x81"], 263);  // respelled with "▁"
  // Every two-piece split of a piece, by score (CONTROL/USER_DEFINED count as 0), then longer
  // left piece first; ties keep id order.
  const Json want_merges = Json::parse(R"([["\n", "\n"], ["▁", "▁"], ["l", "l"], ["h", "e"], ["ll", "o"],
      ["he", "llo"], ["▁", "hello"], ["▁", "w"], ["o", "r"], ["l", "d"], ["▁w", "or"], ["▁wor", "ld"]])");
  EXPECT_EQ(tj["model"]["merges"], want_merges);
  const Json tc = Json::parse(read_bytes(dir / "tokenizer_config.json"));
  EXPECT_EQ(tc["bos_token"], "<bos>");
  EXPECT_EQ(tc["unk_token"], "<unk>");
  EXPECT_EQ(tc["add_bos_token"], true);

  // Llama 2 style (add_space_prefix): "▁" prepended, and stripped again when decoding.
  const fs::path dir2 = temp_dir("gguf-spm-prefix");
  const auto llama = tiny_spm(dir2, true);
  EXPECT_EQ(llama->encode("hello world", false), (Ids{276, 281}));
  EXPECT_EQ(llama->decode({276, 281}), "hello world");
  fs::remove_all(dir);
  fs::remove_all(dir2);
}

TEST(GgufSpm, Refusals) {
  struct Case {
    const char* what;
    std::function<void(GgufBuilder&)> edit;
    const char* message;
  };
  auto scores = [](std::vector<float> v) {
    return [v](GgufBuilder& g) { g.drop("tokenizer.ggml.scores"); g.f32s("tokenizer.ggml.scores", v); };
  };
  std::vector<float> with_nan(tiny_spm_pieces().size(), -1.0f);
  with_nan[270] = std::nanf("");
  const std::vector<Case> cases = {
      {"nan", scores(with_nan), "tokenizer.ggml.scores[270] is not a number"},
      {"count", scores({1.0f, 2.0f}), "tokenizer.ggml.scores has 2 values for 283 tokens"},
      {"strings", [](GgufBuilder& g) { g.drop("tokenizer.ggml.scores"); g.strs("tokenizer.ggml.scores", {"a"}); },
       "tokenizer.ggml.scores must be a numeric array"},
      {"whitespace", [](GgufBuilder& g) { g.boolean("tokenizer.ggml.remove_extra_whitespaces", true); },
       "tokenizer.ggml.remove_extra_whitespaces is not supported"},
      {"t5", [](GgufBuilder& g) { g.drop("tokenizer.ggml.model"); g.str("tokenizer.ggml.model", "t5"); },
       "tokenizer.ggml.model 't5' is not supported yet"},
      {"long", [](GgufBuilder& g) {
         std::vector<std::string> t;
         for (const SpmPiece& p : tiny_spm_pieces()) t.push_back(p.text);
         t[270] = std::string(40000, 'a');
         g.drop("tokenizer.ggml.tokens");
         g.strs("tokenizer.ggml.tokens", t);
       }, "the tokens are too long to derive merges from"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    const fs::path dir = temp_dir("gguf-spm-refuse");
    try {
      tiny_spm(dir, false, k.edit);
      ADD_FAILURE() << "built; expected: " << k.message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(k.message), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
  }
}

struct Converted {
  fs::path dir;
  std::shared_ptr<gguf::File> gguf;
};

Converted convert_tiny(const TinyLlama& t, const std::string& tag) {
  const fs::path work = temp_dir("gguf-gemma-" + tag);
  write_bytes(work / "model.gguf", tiny_llama_gguf(t));
  Converted c{work / "mlx", gguf::File::open((work / "model.gguf").string())};
  fs::create_directories(c.dir);
  gguf::ConvertOptions opt;
  opt.keep_quantized = true;
  gguf::convert_to_mlx(*c.gguf, c.dir, opt);
  return c;
}

TEST(GgufGemma, Gemma3And2EndToEnd) {
  for (const std::string arch : {"gemma3", "gemma2"}) {
    SCOPED_TRACE(arch);
    TinyLlama t;
    t.arch = arch;
    t.tied = true;
    const Converted c = convert_tiny(t, arch);
    const Json cfg = Json::parse(read_bytes(c.dir / "config.json"));
    const bool g3 = arch == "gemma3";
    EXPECT_EQ(cfg["model_type"], g3 ? "gemma3_text" : "gemma2");
    EXPECT_EQ(cfg["architectures"][0], g3 ? "Gemma3ForCausalLM" : "Gemma2ForCausalLM");
    EXPECT_EQ(cfg["head_dim"], 16);
    EXPECT_EQ(cfg["query_pre_attn_scalar"], 16);  // head_dim (hidden/heads only for the 27B)
    EXPECT_EQ(cfg["sliding_window"], 8);
    EXPECT_EQ(cfg["rope_theta"], 1e6);
    EXPECT_EQ(cfg["hidden_activation"], "gelu_pytorch_tanh");
    EXPECT_FALSE(cfg.contains("hidden_act"));
    EXPECT_EQ(cfg["eos_token_id"], (Json{1, 5}));  // <eos> and <end_of_turn>
    EXPECT_EQ(cfg["bos_token_id"], 2);
    if (g3) {
      EXPECT_EQ(cfg["sliding_window_pattern"], 6);
      EXPECT_EQ(cfg["rope_local_base_freq"], 10000.0);
    } else {
      EXPECT_EQ(cfg["attn_logit_softcapping"], 50.0);
      EXPECT_EQ(cfg["final_logit_softcapping"], 30.0);
    }
    // Every norm is the GGUF's value minus 1, in float32.
    const format::ModelDir md = format::ModelDir::open(c.dir.string());
    std::vector<std::pair<std::string, std::string>> norms = {
        {"output_norm.weight", "model.norm.weight"},
        {"blk.1.attn_norm.weight", "model.layers.1.input_layernorm.weight"},
        {"blk.1.post_attention_norm.weight", "model.layers.1.post_attention_layernorm.weight"},
        {"blk.1.ffn_norm.weight", "model.layers.1.pre_feedforward_layernorm.weight"},
        {"blk.0.post_ffw_norm.weight", "model.layers.0.post_feedforward_layernorm.weight"}};
    if (g3) norms.push_back({"blk.0.attn_k_norm.weight", "model.layers.0.self_attn.k_norm.weight"});
    for (const auto& [g, m] : norms) {
      const gguf::TensorInfo* src = c.gguf->header().tensor(g);
      ASSERT_NE(src, nullptr) << g;
      const Tensor got = md.weights().get(m);
      ASSERT_EQ(got.dtype, DType::F32) << m;
      ASSERT_EQ(got.numel(), src->elements) << m;
      for (int64_t i = 0; i < src->elements; ++i) {  // (safetensors data need not be aligned)
        float w, out;
        std::memcpy(&w, src->data + 4 * i, 4);
        std::memcpy(&out, static_cast<const uint8_t*>(got.data) + 4 * i, 4);
        ASSERT_EQ(out, w - 1.0f) << m << " [" << i << "]";
      }
    }
    EXPECT_EQ(md.weights().contains("model.layers.0.self_attn.q_norm.weight"), g3);
    // The rebuilt SentencePiece tokenizer loads.
    auto tok = tok::Tokenizer::load(c.dir.string());
    EXPECT_EQ(tok->encode("hello world", true), (Ids{2, 275, 281}));
    fs::remove_all(c.dir.parent_path());
  }
}

// Ollama's gemma3 GGUFs hold the vision tower too: the text model is imported without it.
TEST(GgufGemma, VisionTensorsAreLeftOut) {
  TinyLlama t;
  t.arch = "gemma3";
  t.tied = true;
  t.edit = [](GgufBuilder& g) {
    g.tensor("v.blk.0.attn_q.weight", {8, 8}, 0, std::string(256, '\0'));
    g.tensor("mm.input_projection.weight", {8, 64}, 0, std::string(2048, '\0'));
  };
  const Converted c = convert_tiny(t, "vision");
  const Json index = Json::parse(read_bytes(c.dir / "model.safetensors.index.json"));
  for (const auto& [name, file] : index["weight_map"].items())
    EXPECT_EQ(name.rfind("model.", 0), 0u) << name;
  EXPECT_TRUE(index["weight_map"].contains("model.layers.1.self_attn.k_norm.weight"));
  fs::remove_all(c.dir.parent_path());
}

TEST(GgufGemma, Refusals) {
  struct Case {
    const char* arch;
    std::function<void(GgufBuilder&)> edit;
    const char* message;
  };
  auto pattern = [](std::vector<float> v) {
    return [v](GgufBuilder& g) {
      std::string bytes;
      for (float x : v) bytes += static_cast<char>(x != 0);
      std::string value;
      const uint32_t bool_type = 7;
      const uint64_t n = v.size();
      value.append(reinterpret_cast<const char*>(&bool_type), 4);
      value.append(reinterpret_cast<const char*>(&n), 8);
      value += bytes;
      g.raw("gemma3.attention.sliding_window_pattern", 9, value);
    };
  };
  const std::vector<Case> cases = {
      {"gemma2", {}, "gemma2 with its own output.weight is not supported"},
      {"gemma3", [](GgufBuilder& g) { g.drop("blk.1.post_ffw_norm.weight"); },
       "missing tensors: ['model.layers.1.post_feedforward_layernorm']"},
      {"gemma3", [](GgufBuilder& g) { g.drop("blk.0.attn_q_norm.weight"); }, "missing tensors: ['model.layers.0.self_attn.q_norm']"},
      {"gemma3", pattern({0, 1}), "attention.sliding_window_pattern is not periodic (layer 1)"},
      {"gemma3", pattern({1, 1, 1}), "must have one boolean per layer"},
      {"gemma3", [](GgufBuilder& g) { g.drop("gemma3.attention.sliding_window"); g.u32("gemma3.attention.sliding_window", 0); },
       "implausible attention.sliding_window 0"},
      {"gemma2", [](GgufBuilder& g) { g.drop("output.weight"); g.f32("gemma2.final_logit_softcapping", -1.0f); },
       "gemma2.final_logit_softcapping must be positive"},
      {"gemma3", [](GgufBuilder& g) { g.tensor("blk.0.attn_q.bias", {64}, 0, std::string(256, '\0')); },
       "unexpected bias tensor 'blk.0.attn_q.bias' for the gemma3 architecture"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.message);
    TinyLlama t;
    t.arch = k.arch;
    t.edit = k.edit;
    expect_refused(t, k.message);
  }
}

}  // namespace
}  // namespace ollmlx::test
