// QuantConfig: MLX's "quantization" block (base spec, per-module dicts, false), the
// "quantization_config" fallback, modes, and type/range errors.
#include <gtest/gtest.h>

#include "format/model_dir.h"
#include "util/error.h"

namespace ollmlx::format {
namespace {

using nlohmann::json;

QuantConfig parse(const std::string& text) {
  return QuantConfig::parse(json::parse(text), "config.json");
}

void expect_error(const std::string& text, std::initializer_list<std::string> parts) {
  try {
    parse(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("[config] config.json: ", 0), 0u) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

TEST(QuantConfig, NoQuantization) {
  for (const char* text :
       {R"({"model_type": "llama"})", R"({"quantization": null})", R"({"quantization": false})"}) {
    QuantConfig q = parse(text);
    EXPECT_FALSE(q.base.has_value()) << text;
    EXPECT_TRUE(q.per_path.empty());
    EXPECT_FALSE(q.spec_for("model.layers.0.mlp.up_proj").has_value());
  }
}

TEST(QuantConfig, BaseBlockMissingModeIsAffine) {
  QuantConfig q = parse(R"({"quantization": {"group_size": 64, "bits": 4}})");
  ASSERT_TRUE(q.base);
  EXPECT_EQ(*q.base, (QuantSpec{QuantMode::Affine, 4, 64}));
  EXPECT_EQ(q.spec_for("anything"), q.base);
}

TEST(QuantConfig, Modes) {
  EXPECT_EQ(*parse(R"({"quantization": {"group_size": 32, "bits": 8, "mode": "affine"}})").base,
            (QuantSpec{QuantMode::Affine, 8, 32}));
  EXPECT_EQ(*parse(R"({"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}})").base,
            (QuantSpec{QuantMode::MxFp4, 4, 32}));
  EXPECT_EQ(*parse(R"({"quantization": {"group_size": 32, "bits": 8, "mode": "mxfp8"}})").base,
            (QuantSpec{QuantMode::MxFp8, 8, 32}));
  EXPECT_EQ(*parse(R"({"quantization": {"group_size": 16, "bits": 4, "mode": "nvfp4"}})").base,
            (QuantSpec{QuantMode::NvFp4, 4, 16}));
  for (int bits : {2, 3, 4, 5, 6, 8})
    for (int gs : {32, 64, 128}) {
      json cfg = {{"quantization", {{"group_size", gs}, {"bits", bits}}}};
      EXPECT_EQ(*QuantConfig::parse(cfg, "c").base, (QuantSpec{QuantMode::Affine, bits, gs}));
    }
}

TEST(QuantConfig, PerPathOverrides) {
  QuantConfig q = parse(R"({"quantization": {
      "group_size": 64, "bits": 4, "mode": "affine",
      "lm_head": {"group_size": 64, "bits": 8},
      "model.layers.0.mlp.down_proj": {"group_size": 32, "bits": 6, "mode": "affine"},
      "model.layers.1.mlp.gate": false,
      "model.layers.2.mlp.up_proj": {"mode": "mxfp4"},
      "model.layers.3.mlp.up_proj": {},
      "model.layers.4.mlp.up_proj": true,
      "quant_method": "affine",
      "note": 3}})");
  EXPECT_EQ(*q.base, (QuantSpec{QuantMode::Affine, 4, 64}));
  EXPECT_EQ(*q.spec_for("lm_head"), (QuantSpec{QuantMode::Affine, 8, 64}));
  EXPECT_EQ(*q.spec_for("model.layers.0.mlp.down_proj"), (QuantSpec{QuantMode::Affine, 6, 32}));
  ASSERT_TRUE(q.per_path.count("model.layers.1.mlp.gate"));
  EXPECT_FALSE(q.spec_for("model.layers.1.mlp.gate").has_value());
  // Missing keys in an override take MLX's per-mode defaults (to_quantized kwargs).
  EXPECT_EQ(*q.spec_for("model.layers.2.mlp.up_proj"), (QuantSpec{QuantMode::MxFp4, 4, 32}));
  EXPECT_EQ(*q.spec_for("model.layers.3.mlp.up_proj"), (QuantSpec{QuantMode::Affine, 4, 64}));
  EXPECT_EQ(*q.spec_for("model.layers.4.mlp.up_proj"), *q.base);
  EXPECT_EQ(*q.spec_for("model.layers.9.mlp.up_proj"), *q.base);
  EXPECT_FALSE(q.per_path.count("quant_method"));
  EXPECT_FALSE(q.per_path.count("note"));
  EXPECT_EQ(q.per_path.size(), 6u);
}

TEST(QuantConfig, QuantizationConfigFallback) {
  QuantConfig q = parse(R"({"quantization_config": {"group_size": 128, "bits": 3,
                             "lm_head": false}})");
  EXPECT_EQ(*q.base, (QuantSpec{QuantMode::Affine, 3, 128}));
  EXPECT_FALSE(q.spec_for("lm_head").has_value());
  // "quantization" wins when both are present (mlx-lm writes identical copies).
  q = parse(R"({"quantization": {"group_size": 64, "bits": 4},
                "quantization_config": {"group_size": 32, "bits": 8}})");
  EXPECT_EQ(*q.base, (QuantSpec{QuantMode::Affine, 4, 64}));
  // HF gpt-oss style.
  q = parse(R"({"quantization_config": {"quant_method": "mxfp4"}})");
  EXPECT_EQ(*q.base, (QuantSpec{QuantMode::MxFp4, 4, 32}));
}

TEST(QuantConfig, Errors) {
  expect_error(R"({"quantization": 4})", {"'quantization'", "object"});
  expect_error(R"({"quantization": "affine"})", {"'quantization'", "object"});
  expect_error(R"({"quantization": {"bits": 4}})", {"quantization.group_size", "missing"});
  expect_error(R"({"quantization": {"group_size": 64}})", {"quantization.bits", "missing"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": "4"}})",
               {"field 'quantization.bits' must be an integer"});
  expect_error(R"({"quantization": {"group_size": 64.0, "bits": 4}})",
               {"field 'quantization.group_size' must be an integer"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 4.5}})", {"bits", "integer"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": null}})", {"bits", "integer"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": -4}})", {"bits", "out of range"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 0}})", {"bits", "out of range"});
  expect_error(R"({"quantization": {"group_size": 18446744073709551615, "bits": 4}})",
               {"group_size", "out of range"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 7}})", {"affine", "bits 7"});
  expect_error(R"({"quantization": {"group_size": 48, "bits": 4}})", {"group_size 48"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 4, "mode": "fp8"}})",
               {"'quantization.mode'", "'fp8'", "affine, mxfp4, mxfp8, nvfp4"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 4, "mode": 1}})",
               {"'quantization.mode'", "string"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 4, "mode": "mxfp4"}})",
               {"mxfp4", "group_size 64"});
  expect_error(R"({"quantization": {"group_size": 16, "bits": 8, "mode": "nvfp4"}})", {"nvfp4"});
  expect_error(R"({"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp8"}})", {"mxfp8"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 4,
                   "model.layers.0.q_proj": {"bits": "8"}}})",
               {"'quantization.model.layers.0.q_proj.bits'", "integer"});
  expect_error(R"({"quantization": {"group_size": 64, "bits": 4,
                   "lm_head": {"mode": "int8"}}})",
               {"quantization.lm_head.mode", "'int8'"});
  expect_error(R"({"quantization_config": {"quant_method": "gptq", "bits": 4}})",
               {"'gptq'", "quantization_config", "mlx_lm.convert"});
  expect_error(R"({"quantization_config": {"quant_method": 5}})", {"quant_method", "string"});
  expect_error(R"({"quantization_config": []})", {"'quantization_config'", "object"});
  expect_error(R"([1, 2])", {"JSON object"});
}

}  // namespace
}  // namespace ollmlx::format
