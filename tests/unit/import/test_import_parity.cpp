// The C++ importer against tools/gguf_to_mlx.py, the spec it reproduces: for every fixture GGUF
// (tools/make_gguf_import_fixtures.py: each tensor type, tokenizer variant and rope scaling) and
// the real SmolLM2-135M-Instruct Q4_1 GGUF, the converted directory must equal the Python one --
// every tensor bit for bit (same names, dtypes, shapes, bytes) and config.json,
// generation_config.json, tokenizer.json, tokenizer_config.json and the index as JSON; in
// practice every file is byte-identical, which is checked too. The SmolLM2 import then loads in
// the engine and gives mlx-lm's greedy continuations (reference.safetensors of the fixture).
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "engine/generate.h"
#include "format/safetensors.h"
#include "gguf_builder.h"
#include "model/model.h"
#include "parity_util.h"
#include "sample/sampler.h"
#include "store/import/gguf.h"
#include "store/import/gguf_convert.h"

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

}  // namespace
}  // namespace ollmlx::test
