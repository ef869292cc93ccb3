// Quantization on import (src/store/import/quantize_model.h) against the real mlx_lm.convert:
// tools/make_quantize_fixtures.py saved tiny float models (bf16; f32 whose config says
// bfloat16; f16 with a layer too narrow to quantize) and what `mlx_lm.convert --quantize
// --q-bits 4|8 --q-group-size 64` made of them. ollmlx's output must hold every tensor bit for
// bit (names, dtypes, shapes, bytes) and the same config.json, and it must load and run in the
// engine. Also the refusals: a quantized model, an unknown level, a bad source.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/generate.h"
#include "format/model_dir.h"
#include "model/model.h"
#include "parity_util.h"
#include "store/import/quantize_model.h"
#include "store/store_error.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path fixtures() { return fs::path(fixtures_dir()) / "quantize"; }

bool have_fixtures() {
  if (fs::exists(fixtures() / "manifest.json")) return true;
  if (fixtures_required()) ADD_FAILURE() << "missing " << fixtures() << " (run tools/prepare_test_data.sh)";
  return false;
}

Json read_json(const fs::path& p) {
  std::ifstream in(p);
  return Json::parse(in);
}

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("ollmlx-quantize-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

// Every tensor of `ours` equals the one of `ref`, and there are no others.
void expect_same_weights(const fs::path& ours, const fs::path& ref) {
  const auto a = format::WeightSet::open(ours.string());
  const auto b = format::WeightSet::open(ref.string());
  ASSERT_EQ(a.names(), b.names());
  for (const std::string& n : a.names()) {
    const Tensor x = a.get(n), y = b.get(n);
    ASSERT_EQ(x.dtype, y.dtype) << n;
    ASSERT_EQ(x.shape, y.shape) << n;
    ASSERT_EQ(x.nbytes(), y.nbytes()) << n;
    const auto* p = x.ptr<const uint8_t>();
    const auto* q = y.ptr<const uint8_t>();
    size_t diff = 0, first = x.nbytes();
    for (size_t i = 0; i < x.nbytes(); ++i)
      if (p[i] != q[i]) {
        ++diff;
        first = std::min(first, i);
      }
    EXPECT_EQ(diff, 0u) << n << ": " << diff << " bytes differ, first at byte " << first;
  }
}

TEST(Quantize, MatchesMlxLmConvertBitForBit) {
  if (!have_fixtures()) GTEST_SKIP() << "no fixtures";
  const Json m = read_json(fixtures() / "manifest.json");
  int compared = 0;
  for (const Json& c : m["cases"]) {
    const std::string name = c["name"];
    for (int bits : c["bits"].get<std::vector<int>>()) {
      SCOPED_TRACE(name + " q" + std::to_string(bits));
      const fs::path src = fixtures() / name / "src";
      const fs::path ref = fixtures() / name / ("q" + std::to_string(bits));
      const fs::path out = temp_dir(name + std::to_string(bits));
      gguf::QuantizeOptions opt;
      opt.bits = bits;
      const gguf::QuantizeReport rep = gguf::quantize_model_dir(src, out, opt);
      EXPECT_GT(rep.quantized, 0);
      expect_same_weights(out, ref);
      // config.json: the same document (mlx-lm's json.dump and ours format floats alike here).
      EXPECT_EQ(read_json(out / "config.json"), read_json(ref / "config.json"));
      const Json idx = read_json(out / "model.safetensors.index.json");
      const Json ridx = read_json(ref / "model.safetensors.index.json");
      EXPECT_EQ(idx["weight_map"], ridx["weight_map"]);
      EXPECT_EQ(idx["metadata"]["total_size"], ridx["metadata"]["total_size"]);
      EXPECT_EQ(idx["metadata"]["total_parameters"], ridx["metadata"]["total_parameters"]);
      EXPECT_TRUE(fs::exists(out / "tokenizer.json"));

      // The result runs: the same logits as mlx-lm's own quantized directory in the engine.
      auto run = [](const fs::path& dir) {
        auto backend = create_backend("cpu", 2);
        auto model = load_model(dir.string(), *backend, ModelOptions{});
        auto cache = backend->create_kv_cache(model->kv_spec(1, 16, 16));
        Logits logits;
        prefill(*model, *cache, cache->alloc_seq(), {1, 5, 9, 3, 7}, 16, &logits, nullptr);
        return logits.data;
      };
      EXPECT_EQ(run(out), run(ref));
      fs::remove_all(out);
      ++compared;
    }
  }
  EXPECT_EQ(compared, 4);
}

TEST(Quantize, RefusesAnAlreadyQuantizedModel) {
  if (!have_fixtures()) GTEST_SKIP() << "no fixtures";
  const fs::path out = temp_dir("requant");
  gguf::QuantizeOptions opt;
  try {
    gguf::quantize_model_dir(fixtures() / "llama_bf16" / "q4", out, opt);
    FAIL() << "quantized a quantized model";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), "quantize");
    EXPECT_NE(std::string(e.what()).find("already quantized"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out));
}

TEST(Quantize, RefusesBadSources) {
  const fs::path src = temp_dir("badsrc");
  const fs::path out = temp_dir("badout");
  fs::create_directories(src);
  gguf::QuantizeOptions opt;
  // No config.json.
  EXPECT_THROW(gguf::quantize_model_dir(src, out, opt), Error);
  // A config but weights that are not safetensors.
  std::ofstream(src / "config.json") << R"({"model_type": "llama"})";
  std::ofstream(src / "model.safetensors") << "not a safetensors file";
  EXPECT_THROW(gguf::quantize_model_dir(src, out, opt), Error);
  EXPECT_FALSE(fs::exists(out));
  // A config that is not an object.
  std::ofstream(src / "config.json", std::ios::trunc) << "[1, 2]";
  EXPECT_THROW(gguf::quantize_model_dir(src, out, opt), Error);
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(src);
}

TEST(Quantize, ParsesLevels) {
  EXPECT_EQ(gguf::parse_quantize_level("q4"), 4);
  EXPECT_EQ(gguf::parse_quantize_level("Q8"), 8);
  for (const char* bad : {"q4_K_M", "q5", "", "4", "q8_0"}) {
    try {
      gguf::parse_quantize_level(bad);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("q4 or q8"), std::string::npos) << e.what();
    }
  }
}

TEST(Quantize, CancelRemovesTheOutput) {
  if (!have_fixtures()) GTEST_SKIP() << "no fixtures";
  const fs::path out = temp_dir("cancel");
  std::atomic<bool> cancel{true};
  gguf::QuantizeOptions opt;
  opt.cancel = &cancel;
  EXPECT_THROW(gguf::quantize_model_dir(fixtures() / "llama_bf16" / "src", out, opt), store::StoreError);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ollmlx::test
