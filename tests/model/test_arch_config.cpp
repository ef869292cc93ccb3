// Architecture loading on the parity fixtures' real mlx-lm files with edited configs: what each
// architecture reports (ModelInfo), and malformed or inconsistent configs and weights rejected with
// an ollmlx::Error that names its subsystem and the file -- never a crash.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "model/model.h"
#include "parity_util.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return fixtures_dir() + "/parity/" + name; }

bool have(const std::string& name) {
  if (fs::exists(fixture(name) + "/config.json")) return true;
  if (fixtures_required()) ADD_FAILURE() << "missing " << fixture(name);
  return false;
}

// A copy of a fixture directory (weights hard-linked or copied) whose config.json is edited.
std::string edited_copy(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const std::string src = fixture(name);
  const std::string dst = (fs::temp_directory_path() / ("ollmlx_arch_" + name + "_" +
                                                        std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                                        "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                              .string();
  fs::remove_all(dst);
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string fn = e.path().filename().string();
    if (fn == "config.json" || fn == "reference.safetensors") continue;
    std::error_code ec;
    fs::create_hard_link(e.path(), dst + "/" + fn, ec);
    if (ec) fs::copy_file(e.path(), dst + "/" + fn);
  }
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(src + "/config.json"));
  edit(cfg);
  std::ofstream(dst + "/config.json") << cfg.dump(2);
  return dst;
}

// load_model must throw Error(subsystem) whose message contains `needle` and the directory.
void expect_load_error(const std::string& dir, const std::string& subsystem, const std::string& needle) {
  auto be = create_backend("cpu", 1);
  try {
    load_model(dir, *be);
    ADD_FAILURE() << dir << ": loaded, expected an error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), subsystem) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << "no file/dir in: " << e.what();
  }
}

TEST(ArchConfig, InfoOfEachArchitecture) {
  struct Want {
    const char* fixture;
    const char* arch;
    int64_t head_dim;
    DType act;
  };
  const Want wants[] = {{"qwen2_q4_g64_bf16_tied", "qwen2", 32, DType::BF16},
                        {"qwen3_q4_g64_bf16", "qwen3", 48, DType::BF16},
                        {"phi3_longrope_q4_g64_bf16", "phi3", 32, DType::BF16},
                        {"gemma2_f32_softcap10", "gemma2", 32, DType::F32},
                        {"gemma3_text_f16_clip", "gemma3_text", 32, DType::F16},
                        {"gemma3_q4_g64_bf16", "gemma3", 32, DType::BF16},
                        {"mxfp4_bf16_tied", "llama", 32, DType::BF16}};
  for (const Want& w : wants) {
    if (!have(w.fixture)) continue;
    auto be = create_backend("cpu", 1);
    auto m = load_model(fixture(w.fixture), *be);
    EXPECT_EQ(m->info().architecture, w.arch) << w.fixture;
    EXPECT_EQ(m->info().head_dim, w.head_dim) << w.fixture;
    EXPECT_EQ(m->info().activation_dtype, w.act) << w.fixture;
    EXPECT_GT(m->info().n_params, 0) << w.fixture;
    EXPECT_FALSE(m->info().residual_dtype) << w.fixture;  // only mixed float16/float32 gemma3
  }
}

TEST(ArchConfig, SlidingLayersOfGemma3FollowThePattern) {
  if (!have("gemma3_text_q4_g64_bf16")) GTEST_SKIP();
  auto be = create_backend("cpu", 1);
  auto m = load_model(fixture("gemma3_text_q4_g64_bf16"), *be);
  const KvCacheSpec spec = m->kv_spec(1, 64, 8);
  ASSERT_EQ(spec.layers.size(), 6u);
  for (size_t i = 0; i < 6; ++i)  // sliding_window 8, sliding_window_pattern 3
    EXPECT_EQ(spec.layers[i].window, (i + 1) % 3 != 0 ? 8 : 0) << "layer " << i;
}

TEST(ArchConfig, MalformedConfigsAreErrorsNamingTheFile) {
  if (have("phi3_longrope_q4_g64_bf16"))
    expect_load_error(edited_copy("phi3_longrope_q4_g64_bf16",
                                  [](nlohmann::json& c) { c["rope_scaling"].erase("long_factor"); }),
                      "config", "long_factor");
  if (have("phi3_bf16_tied"))
    expect_load_error(edited_copy("phi3_bf16_tied", [](nlohmann::json& c) { c["partial_rotary_factor"] = 0.3; }),
                      "config", "partial_rotary_factor");
  if (have("qwen3_q4_g64_bf16"))
    expect_load_error(edited_copy("qwen3_q4_g64_bf16", [](nlohmann::json& c) { c.erase("tie_word_embeddings"); }),
                      "config", "tie_word_embeddings");
  if (have("qwen3_bf16_tied_rope_parameters"))
    expect_load_error(edited_copy("qwen3_bf16_tied_rope_parameters",
                                  [](nlohmann::json& c) { c.erase("rope_parameters"); }),
                      "config", "rope_theta");
  if (have("gemma3_q4_g64_bf16"))
    expect_load_error(edited_copy("gemma3_q4_g64_bf16", [](nlohmann::json& c) { c.erase("text_config"); }),
                      "config", "text_config");
  if (have("gemma2_q4_g64_bf16"))
    expect_load_error(edited_copy("gemma2_q4_g64_bf16", [](nlohmann::json& c) { c["num_key_value_heads"] = 3; }),
                      "config", "key/value heads");
  if (have("gemma2_q4_g64_bf16"))  // head_dim 48 does not match the q_proj rows in the file
    expect_load_error(edited_copy("gemma2_q4_g64_bf16", [](nlohmann::json& c) { c["head_dim"] = 48; }),
                      "weights", "q_proj");
}

TEST(ArchConfig, Qwen2WithoutQkvBiasesIsRejected) {
  // A llama fixture relabelled qwen2: same tensor names, but no q/k/v biases.
  if (!have("q8_g32_bf16_untied")) GTEST_SKIP();
  expect_load_error(edited_copy("q8_g32_bf16_untied", [](nlohmann::json& c) { c["model_type"] = "qwen2"; }),
                    "weights", "q_proj.bias");
}

}  // namespace
}  // namespace ollmlx::test
