// The C++ importer against tools/gguf_to_mlx.py, the spec it reproduces: for every fixture GGUF
// (tools/make_gguf_import_fixtures.py: each tensor type, tokenizer variant and rope scaling) and
// the real SmolLM2-135M-Instruct Q4_1 GGUF, the converted directory must equal the Python one --
// every tensor bit for bit (same names, dtypes, shapes, bytes) and config.json,
// generation_config.json, tokenizer.json, tokenizer_config.json and the index as JSON; in
// practice every file is byte-identical, which is checked too. The SmolLM2 import then loads in
// the engine and gives mlx-lm's greedy continuations (reference.safetensors of the fixture).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/generate.h"
#include "format/safetensors.h"
#include "gguf_builder.h"
#include "model/model.h"
#include "parity_util.h"
#include "sample/sampler.h"
#include "store/import/gguf.h"
#include "store/import/gguf_convert.h"
#include "store/import/gguf_quants.h"
#include "util/half.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path fixtures() { return fs::path(fixtures_dir()) / "gguf_import"; }

bool have_fixtures() {
  if (fs::exists(fixtures() / "manifest.json")) return true;
  if (fixtures_required()) ADD_FAILURE() << "missing " << fixtures() << " (run tools/prepare_test_data.sh)";
  return false;
}

// Compares every tensor of two safetensors files.
void expect_same_tensors(const fs::path& ours, const fs::path& theirs) {
  auto a = format::SafetensorsFile::open(ours.string());
  auto b = format::SafetensorsFile::open(theirs.string());
  ASSERT_EQ(a->header().tensors.size(), b->header().tensors.size()) << ours;
  EXPECT_EQ(a->header().metadata, b->header().metadata);
  for (const auto& [name, eb] : b->header().tensors) {
    const format::TensorEntry* ea = a->find(name);
    ASSERT_NE(ea, nullptr) << "missing tensor " << name;
    EXPECT_EQ(ea->dtype, eb.dtype) << name;
    EXPECT_EQ(ea->shape, eb.shape) << name;
    const Tensor ta = a->view(*ea), tb = b->view(eb);
    ASSERT_EQ(ta.nbytes(), tb.nbytes()) << name;
    EXPECT_EQ(std::memcmp(ta.data, tb.data, ta.nbytes()), 0) << "tensor " << name << " differs";
  }
}

// Converts `gguf` with the C++ importer and compares with the Python output in `python_dir`.
fs::path convert_and_compare(const fs::path& gguf, const fs::path& python_dir, const std::string& tag) {
  const fs::path out = temp_dir("import-parity-" + tag);
  auto f = gguf::File::open(gguf.string());
  gguf::convert_to_mlx(*f, out);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(python_dir)) {
    const std::string n = e.path().filename().string();
    if (n == "reference.safetensors" || n == "long.safetensors" || n == "golden.json" || n.front() == '.') continue;
    files.push_back(n);
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> ours;
  for (const auto& e : fs::directory_iterator(out)) ours.push_back(e.path().filename().string());
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, files);
  for (const std::string& n : files) {
    SCOPED_TRACE(n);
    const fs::path a = out / n, b = python_dir / n;
    if (n.size() > 12 && n.substr(n.size() - 12) == ".safetensors") {
      expect_same_tensors(a, b);
    } else {
      EXPECT_EQ(Json::parse(read_bytes(a)), Json::parse(read_bytes(b)));
    }
    EXPECT_TRUE(read_bytes(a) == read_bytes(b)) << n << " is not byte-identical to the Python output";
  }
  return out;
}

TEST(ImportParity, FixtureCases) {
  if (!have_fixtures()) GTEST_SKIP() << "no fixtures";
  const Json m = Json::parse(read_bytes(fixtures() / "manifest.json"));
  ASSERT_GE(m["cases"].size(), 5u);
  for (const auto& c : m["cases"]) {
    const std::string name = c.get<std::string>();
    SCOPED_TRACE(name);
    const fs::path out = convert_and_compare(fixtures() / name / "model.gguf", fixtures() / name / "mlx", name);
    fs::remove_all(out);
  }
}

TEST(ImportParity, SmolLM2ConvertsIdenticallyAndGeneratesTheSameTokens) {
  if (!have_fixtures()) GTEST_SKIP() << "no fixtures";
  const Json m = Json::parse(read_bytes(fixtures() / "manifest.json"));
  const fs::path python_dir = fs::path(fixtures_dir()) / "smollm2";
  if (!m["smollm2_gguf"].is_string() || !fs::exists(m["smollm2_gguf"].get<std::string>()) ||
      !fs::exists(python_dir / "reference.safetensors")) {
    if (fixtures_required()) FAIL() << "the SmolLM2 GGUF or its fixture is missing";
    GTEST_SKIP() << "no SmolLM2 GGUF";
  }
  const fs::path out = convert_and_compare(m["smollm2_gguf"].get<std::string>(), python_dir, "smollm2");

  // The C++ import runs and continues every reference prompt as mlx-lm did on the Python import.
  const auto refs = read_reference(python_dir.string());
  ASSERT_FALSE(refs.empty());
  auto backend = create_backend("cpu", 2);
  auto model = load_model(out.string(), *backend, ModelOptions{});
  int checked = 0;
  for (size_t s = 0; s < refs.size(); ++s) {
    const RefSequence& r = refs[s];
    if (r.greedy.empty()) continue;
    auto cache = backend->create_kv_cache(model->kv_spec(1, 256, 512));
    const int slot = cache->alloc_seq();
    Sampler greedy(SamplerParams{});
    GenerateOptions opt;
    opt.max_tokens = static_cast<int>(r.greedy.size());
    const GenerateResult g = generate(*model, *cache, slot, r.tokens, greedy, opt);
    EXPECT_EQ(g.tokens, r.greedy) << "sequence " << s;
    ++checked;
  }
  EXPECT_GT(checked, 0);
  fs::remove_all(out);
}

// "Keep quantized" imports (the importers' default) against the Python (float16) conversions:
// modules the Python dequantized are MLX affine here; their values must equal the Python ones
// up to its float16 rounding (exact forms) or within 1.5 8-bit steps (Q6_K/Q2_K requantized),
// everything else stays byte-identical; and the engine's logits of the two agree.
float read_scalar(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32: return static_cast<const float*>(t.data)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
    default: ADD_FAILURE() << "dtype"; return 0;
  }
}

std::string gguf_name(const std::string& module) {  // HF module -> GGUF tensor name
  static const std::vector<std::pair<std::string, std::string>> parts = {
      {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"}, {"self_attn.v_proj", "attn_v"},
      {"self_attn.o_proj", "attn_output"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  if (module == "model.embed_tokens") return "token_embd.weight";
  if (module == "lm_head") return "output.weight";
  const std::string pre = "model.layers.";
  const size_t dot = module.find('.', pre.size());
  const std::string layer = module.substr(pre.size(), dot - pre.size()), rest = module.substr(dot + 1);
  for (const auto& [hf, g] : parts)
    if (rest == hf) return "blk." + layer + "." + g + ".weight";
  return "";
}

TEST(ImportParity, KeepQuantizedMatchesPythonValues) {
  if (!have_fixtures()) GTEST_SKIP() << "no fixtures";
  for (const std::string name : {"kquants", "mixed", "f32_scales"}) {
    SCOPED_TRACE(name);
    const fs::path gguf_path = fixtures() / name / "model.gguf", py = fixtures() / name / "mlx";
    const fs::path out = temp_dir("import-keep-" + name);
    auto f = gguf::File::open(gguf_path.string());
    gguf::ConvertOptions opt;
    opt.keep_quantized = true;
    const gguf::ConvertReport rep = gguf::convert_to_mlx(*f, out, opt);
    EXPECT_TRUE(rep.dequantized.empty());
    const Json cfg = Json::parse(read_bytes(out / "config.json"));
    auto ours = format::SafetensorsFile::open((out / "model.safetensors").string());
    auto theirs = format::SafetensorsFile::open((py / "model.safetensors").string());
    int compared = 0;
    for (const auto& [tname, eb] : theirs->header().tensors) {
      const format::TensorEntry* ea = ours->find(tname);
      ASSERT_NE(ea, nullptr) << tname;
      const Tensor tb = theirs->view(eb), ta = ours->view(*ea);
      if (ea->dtype == eb.dtype && ea->shape == eb.shape) {
        EXPECT_EQ(std::memcmp(ta.data, tb.data, ta.nbytes()), 0) << tname;
        continue;
      }
      // Dense in the Python conversion, MLX affine here.
      ASSERT_EQ(ea->dtype, DType::U32) << tname;
      const std::string module = tname.substr(0, tname.size() - 7);
      const Json& q = cfg["quantization"];
      const int bits = q.contains(module) ? q[module]["bits"].get<int>() : q["bits"].get<int>();
      const Tensor sc = ours->view(*ours->find(module + ".scales")), bi = ours->view(*ours->find(module + ".biases"));
      const gguf::TensorInfo* src = f->header().tensor(gguf_name(module));
      ASSERT_NE(src, nullptr) << module;
      const bool exact = gguf::affine_exact(src->type);
      const int64_t rows = eb.shape[0], cols = eb.shape[1];
      const uint8_t* w = static_cast<const uint8_t*>(ta.data);
      const int64_t row_bytes = cols * bits / 8;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const uint64_t bit = static_cast<uint64_t>(c) * bits;
          uint64_t v = 0;
          std::memcpy(&v, w + r * row_bytes + bit / 8, std::min<int64_t>(8, row_bytes - static_cast<int64_t>(bit / 8)));
          const int qv = static_cast<int>((v >> (bit % 8)) & ((1u << bits) - 1));
          const int64_t g = r * (cols / 32) + c / 32;
          const float scale = read_scalar(sc, g), got = scale * static_cast<float>(qv) + read_scalar(bi, g);
          const float want = read_scalar(tb, r * cols + c);
          const float f16_round = std::fabs(want) * (1.0f / 2048) + 6e-8f;  // the Python's float16 rounding
          const float tol = exact ? f16_round : 1.5f * std::fabs(scale) + f16_round;
          ASSERT_LE(std::fabs(got - want), tol) << module << " [" << r << ", " << c << "] " << gguf::type_name(src->type);
        }
      ++compared;
    }
    EXPECT_GT(compared, 0);
    if (name == "kquants") {
      // The engine runs both conversions to nearly the same logits.
      auto backend = create_backend("cpu", 2);
      auto a = load_model(out.string(), *backend, ModelOptions{});
      auto b = load_model(py.string(), *backend, ModelOptions{});
      const std::vector<int32_t> tokens = {0, 70, 80, 90, 100, 110, 120, 130, 266, 5, 6, 7};
      Logits la, lb;
      for (auto [m, l] : {std::pair{a.get(), &la}, std::pair{b.get(), &lb}}) {
        auto cache = backend->create_kv_cache(m->kv_spec(1, 64, 64));
        prefill(*m, *cache, cache->alloc_seq(), tokens, 64, l, nullptr);
      }
      ASSERT_EQ(la.data.size(), lb.data.size());
      double worst = 0;
      for (int64_t p = 0; p < la.rows; ++p) {
        const RowDiff d = row_diff(la.row(p), lb.row(p), la.vocab);
        worst = std::max(worst, d.max_abs / std::max(1.0, d.ref_scale));
      }
      // This fixture's Q6_K/Q2_K blocks are random bytes: the two 16-element sub-blocks of a
      // group have unrelated scales (up to 40x apart), far from real files, so the 8-bit
      // requantization is coarse here. KeepQuantizedExactTypesRunLikeFloat32 and
      // RealQ6KBlocks check the exact forms and real data.
      std::printf("[ keep-quantized ] kquants logits vs the Python float16 conversion: max rel error %.3g\n", worst);
      EXPECT_LT(worst, 0.2);
    }
    fs::remove_all(out);
  }
}

// The exact "keep quantized" forms (Q4_K, Q5_K, Q3_K 8-bit, Q5_0, Q5_1) run in the engine like
// the same weights dequantized to float32: only the kernels' summation order differs.
TEST(ImportParity, KeepQuantizedExactTypesRunLikeFloat32) {
  TinyLlama t;
  t.hidden = 256;
  t.ffn = 512;
  t.heads = 4;
  t.kv_heads = 2;
  t.layer_types = {12, 13, 11, 12, 13, 11, 12, 6, 7, 13, 11, 12, 6, 13};
  t.embed_type = 13;
  t.output_type = 12;
  const std::string bytes = tiny_llama_gguf(t);
  const fs::path work = temp_dir("import-keep-exact");
  write_bytes(work / "m.gguf", bytes);
  auto f = gguf::File::open((work / "m.gguf").string());
  Logits logits[2];
  for (int i = 0; i < 2; ++i) {
    gguf::ConvertOptions opt;
    opt.keep_quantized = i == 0;
    opt.dequant_f32 = i == 1;
    const fs::path out = work / std::to_string(i);
    fs::create_directories(out);
    const gguf::ConvertReport rep = gguf::convert_to_mlx(*f, out, opt);
    EXPECT_EQ(rep.requantized.empty(), true);
    EXPECT_EQ(rep.dequantized.empty(), i == 0);
    auto backend = create_backend("cpu", 2);
    auto model = load_model(out.string(), *backend, ModelOptions{});
    auto cache = backend->create_kv_cache(model->kv_spec(1, 64, 64));
    prefill(*model, *cache, cache->alloc_seq(), {1, 72, 101, 108, 262, 2, 40, 50, 60, 70}, 64, &logits[i], nullptr);
  }
  double worst = 0;
  for (int64_t p = 0; p < logits[0].rows; ++p) {
    const RowDiff d = row_diff(logits[0].row(p), logits[1].row(p), logits[0].vocab);
    worst = std::max(worst, d.max_abs / std::max(1.0, d.ref_scale));
  }
  std::printf("[ keep-quantized ] exact K-quant forms vs float32: max rel error %.3g\n", worst);
  EXPECT_LT(worst, 1e-4);
  fs::remove_all(work);
}

// Real K-quant blocks (tensors of Gemma-3-270M's Q4_K_M GGUF, extracted by the fixture script):
// the exact forms give back the dequantized values exactly, and Q6_K requantized to 8-bit keeps
// a small error relative to the weights.
TEST(ImportParity, RealKQuantBlocks) {
  if (!have_fixtures()) GTEST_SKIP() << "no fixtures";
  const fs::path dir = fixtures() / "real_blocks";
  const Json m = Json::parse(read_bytes(fixtures() / "manifest.json"));
  if (!m.value("real_blocks", false)) GTEST_SKIP() << "no real blocks (the Gemma 3 GGUF package is not installed)";
  ASSERT_TRUE(fs::exists(dir / "index.json")) << dir;
  const Json index = Json::parse(read_bytes(dir / "index.json"));
  int checked = 0;
  for (const auto& e : index["tensors"]) {
    const std::string name = e["name"].get<std::string>();
    SCOPED_TRACE(name);
    const uint32_t type = e["type"].get<uint32_t>();
    const int64_t rows = e["rows"].get<int64_t>(), cols = e["cols"].get<int64_t>();
    const std::string data = read_bytes(dir / e["file"].get<std::string>());
    const gguf::TypeTraits* tt = gguf::type_traits(type);
    const int64_t row_bytes = cols / tt->block_size * tt->type_size;
    ASSERT_EQ(static_cast<int64_t>(data.size()), rows * row_bytes);
    if (!gguf::affine_bits(type)) continue;
    const int bits = gguf::affine_bits(type);
    double err2 = 0, ref2 = 0, worst_steps = 0;
    std::vector<uint8_t> w(static_cast<size_t>(cols * bits / 8));
    std::vector<float> sc(static_cast<size_t>(cols / 32)), bi(sc.size()), want(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      const auto* src = reinterpret_cast<const uint8_t*>(data.data()) + r * row_bytes;
      gguf::row_to_mlx_affine(type, src, cols, w.data(), sc.data(), bi.data());
      gguf::dequantize(type, src, cols, want.data());
      for (int64_t c = 0; c < cols; ++c) {
        const uint64_t bit = static_cast<uint64_t>(c) * bits;
        uint64_t v = 0;
        std::memcpy(&v, w.data() + bit / 8, std::min<size_t>(8, w.size() - bit / 8));
        const int q = static_cast<int>((v >> (bit % 8)) & ((1u << bits) - 1));
        const float got = sc[c / 32] * static_cast<float>(q) + bi[c / 32];
        if (gguf::affine_exact(type)) {
          ASSERT_EQ(got, want[c]) << r << ", " << c;
        }
        const double e2 = static_cast<double>(got) - want[c];
        err2 += e2 * e2;
        ref2 += static_cast<double>(want[c]) * want[c];
        if (sc[c / 32] != 0) worst_steps = std::max(worst_steps, std::fabs(e2) / std::fabs(sc[c / 32]));
      }
    }
    const double rel = std::sqrt(err2 / std::max(ref2, 1e-30));
    std::printf("[ real blocks ] %-28s %-5s -> %d-bit: relative RMS error %.3g, worst %.2f steps\n", name.c_str(),
                tt->name, bits, rel, worst_steps);
    if (!gguf::affine_exact(type)) {
      EXPECT_LT(rel, 0.01);
      EXPECT_LE(worst_steps, 1.5);
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// Imports a GGUF into dir/mlx and returns the engine's logits of a fixed prompt.
Logits import_and_prefill(const std::string& gguf_bytes, const fs::path& dir) {
  fs::create_directories(dir / "mlx");
  write_bytes(dir / "m.gguf", gguf_bytes);
  auto f = gguf::File::open((dir / "m.gguf").string());
  gguf::convert_to_mlx(*f, dir / "mlx");
  auto backend = create_backend("cpu", 2);
  auto model = load_model((dir / "mlx").string(), *backend, ModelOptions{});
  auto cache = backend->create_kv_cache(model->kv_spec(1, 64, 64));
  Logits logits;
  prefill(*model, *cache, cache->alloc_seq(), {1, 72, 101, 108, 262, 2, 40, 50}, 64, &logits, nullptr);
  return logits;
}

void expect_same_logits(const Logits& a, const Logits& b) {
  ASSERT_EQ(a.data.size(), b.data.size());
  for (int64_t p = 0; p < a.rows; ++p) {
    const RowDiff d = row_diff(a.row(p), b.row(p), a.vocab);
    EXPECT_LE(d.max_abs / std::max(1.0, d.ref_scale), 1e-5) << "position " << p;
  }
}

// qwen2's conversion against llama's, which is checked against the Python above: the same
// weights written as a llama GGUF (Q/K rows permuted, no biases) and as a qwen2 GGUF (rows in
// Hugging Face order, zero q/k/v biases) are the same function, so the engine must give the same
// logits for both imports. No fixtures needed.
TEST(ImportParity, Qwen2EqualsTheSameWeightsAsLlama) {
  TinyLlama base;
  base.all_f32 = true;
  const std::string llama_gguf = tiny_llama_gguf(base);
  TinyLlama q = base;
  q.arch = "qwen2";
  q.zero_bias = true;
  q.edit = [&](GgufBuilder& g) {
    // llama.cpp's permutation undone (GGUF row h*hd + 2b + a -> HF row h*hd + a*hd/2 + b).
    for (int i = 0; i < base.layers; ++i)
      for (auto [name, heads] : {std::pair<std::string, int>{"attn_q", base.heads}, {"attn_k", base.kv_heads}}) {
        std::string* d = g.data_of("blk." + std::to_string(i) + "." + name + ".weight");
        ASSERT_NE(d, nullptr);
        const int hd = base.hidden / base.heads, row = base.hidden * 4, rows = heads * hd;
        std::string hf(d->size(), '\0');
        for (int r = 0; r < rows; ++r) {
          const int h = r / hd, a = (r % hd) / (hd / 2), b = r % (hd / 2);
          std::memcpy(hf.data() + r * row, d->data() + (h * hd + 2 * b + a) * row, row);
        }
        *d = hf;
      }
  };
  const fs::path work = temp_dir("import-qwen2-vs-llama");
  expect_same_logits(import_and_prefill(llama_gguf, work / "llama"), import_and_prefill(tiny_llama_gguf(q), work / "qwen2"));
  fs::remove_all(work);
}

// phi3 the same way: the llama weights with Q/K rows in HF order, fused into attn_qkv and
// ffn_up = gate | up (gguf_builder.h), run by the engine's phi3 (fused projections, rotate-half
// RoPE) must give llama's logits; untied and tied heads.
TEST(ImportParity, Phi3EqualsTheSameWeightsAsLlama) {
  for (const bool tied : {false, true}) {
    TinyLlama base;
    base.all_f32 = true;
    base.tied = tied;
    TinyLlama phi = base;
    phi.arch = "phi3";
    const fs::path work = temp_dir("import-phi3-vs-llama");
    expect_same_logits(import_and_prefill(tiny_llama_gguf(base), work / "llama"),
                       import_and_prefill(tiny_llama_gguf(phi), work / "phi3"));
    fs::remove_all(work);
  }
}

}  // namespace
}  // namespace ollmlx::test
