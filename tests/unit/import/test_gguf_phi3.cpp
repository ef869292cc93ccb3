// The phi3 architecture in the GGUF importer, on tiny models (gguf_builder.h): the fused
// attn_qkv / ffn_up tensors become self_attn.qkv_proj / mlp.gate_up_proj unchanged (mlx-lm's
// phi3 keeps them fused too), longrope factors and partial rotary reach config.json, and what
// cannot be converted is refused. test_import_parity.cpp checks that the engine computes the
// same logits for a phi3 import and a llama import of the same weights.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "format/model_dir.h"
#include "gguf_builder.h"
#include "refusal_util.h"
#include "store/import/gguf.h"
#include "store/import/gguf_convert.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

TEST(GgufPhi3, FusedTensorsAndConfig) {
  TinyLlama t;
  t.arch = "phi3";
  t.all_f32 = true;
  t.rope_factors = true;
  t.edit = [](GgufBuilder& g) {  // 12 of 16 dims rotated; the factors cut to 12 / 2
    g.drop("phi3.rope.dimension_count");
    g.u32("phi3.rope.dimension_count", 12);
    for (const char* n : {"rope_factors_long.weight", "rope_factors_short.weight"}) {
      const std::string d = g.data_of(n)->substr(0, 6 * 4);
      g.drop(n);
      g.tensor(n, {6}, 0, d);
    }
  };
  const fs::path work = temp_dir("gguf-phi3");
  write_bytes(work / "m.gguf", tiny_llama_gguf(t));
  fs::create_directories(work / "mlx");
  auto f = gguf::File::open((work / "m.gguf").string());
  gguf::convert_to_mlx(*f, work / "mlx");

  const Json cfg = Json::parse(read_bytes(work / "mlx" / "config.json"));
  EXPECT_EQ(cfg["model_type"], "phi3");
  EXPECT_EQ(cfg["architectures"][0], "Phi3ForCausalLM");
  EXPECT_EQ(cfg["intermediate_size"], 128);
  EXPECT_EQ(cfg["partial_rotary_factor"], 0.75);
  EXPECT_EQ(cfg["original_max_position_embeddings"], 256);
  EXPECT_EQ(cfg["rope_scaling"]["type"], "longrope");
  const gguf::TensorInfo* lf = f->header().tensor("rope_factors_long.weight");
  std::vector<float> long_factor(6);
  std::memcpy(long_factor.data(), lf->data, 6 * 4);
  const Json want_long = long_factor;
  EXPECT_EQ(cfg["rope_scaling"]["long_factor"], want_long);
  EXPECT_EQ(cfg["rope_scaling"]["short_factor"].size(), 6u);

  // The fused tensors are copied byte for byte.
  const format::ModelDir md = format::ModelDir::open((work / "mlx").string());
  for (const auto& [g, m] : {std::pair<const char*, const char*>{"blk.1.attn_qkv.weight", "model.layers.1.self_attn.qkv_proj.weight"},
                             {"blk.0.ffn_up.weight", "model.layers.0.mlp.gate_up_proj.weight"}}) {
    const gguf::TensorInfo* src = f->header().tensor(g);
    const Tensor got = md.weights().get(m);
    EXPECT_EQ(got.shape, (Shape{src->ne[1], src->ne[0]})) << m;
    EXPECT_EQ(std::memcmp(got.data, src->data, src->nbytes), 0) << m;
  }
  EXPECT_FALSE(md.weights().contains("model.layers.0.mlp.gate_proj.weight"));
  fs::remove_all(work);
}

TEST(GgufPhi3, Refusals) {
  struct Case {
    std::function<void(GgufBuilder&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {[](GgufBuilder& g) { g.tensor("blk.0.attn_q.weight", {64, 64}, 0, std::string(64 * 64 * 4, '\0')); },
       "unsupported tensor 'blk.0.attn_q.weight' for the phi3 architecture"},
      {[](GgufBuilder& g) { g.drop("blk.1.attn_qkv.weight"); }, "missing tensors: ['model.layers.1.self_attn.qkv_proj']"},
      {[](GgufBuilder& g) { g.drop("blk.0.ffn_up.weight"); g.tensor("blk.0.ffn_up.weight", {64, 128}, 0, std::string(64 * 128 * 4, '\0')); },
       "tensor 'blk.0.ffn_up.weight' has shape [64, 128], expected [64, 256]"},
      {[](GgufBuilder& g) { g.drop("rope_factors_long.weight"); },
       "rope_factors_short.weight without rope_factors_long.weight cannot be used"},
      {[](GgufBuilder& g) { g.drop("rope_factors_long.weight"); g.tensor("rope_factors_long.weight", {3}, 0, std::string(12, '\0')); },
       "rope_factors_long.weight must have rope.dimension_count/2 values"},
      {[](GgufBuilder& g) { g.drop("phi3.rope.dimension_count"); g.u32("phi3.rope.dimension_count", 7); },
       "rope.dimension_count 7 does not fit head_dim 16"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.message);
    TinyLlama t;
    t.arch = "phi3";
    t.all_f32 = true;
    t.rope_factors = true;
    t.edit = k.edit;
    expect_refused(t, k.message);
  }
}

}  // namespace
}  // namespace ollmlx::test
