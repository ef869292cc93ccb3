// Tokenizer::load: tokenizer_config.json / special_tokens_map.json strings, and the EOS rule of
// mlx-lm (generation_config.json over config.json over the tokenizer's eos token).
#include <gtest/gtest.h>

#include "tok_test_util.h"
#include "util/error.h"

namespace ollmlx::tok {
namespace {

using nlohmann::json;
using testing::added;
using testing::TempDir;

std::string tokenizer_json() {
  return testing::mini_bpe({"a", "b", "<s>", "</s>", "<|eot|>"}, {},
                           {{"added_tokens", json::array({added(2, "<s>", true),
                                                          added(3, "</s>", true),
                                                          added(4, "<|eot|>", true)})}})
      .dump();
}

TEST(ModelFiles, EosFromTokenizerConfig) {
  TempDir d;
  d.write("tokenizer.json", tokenizer_json());
  d.write("tokenizer_config.json",
          R"({"bos_token": "<s>", "eos_token": {"content": "</s>", "special": true},
              "add_bos_token": true, "chat_template": "{{ x }}"})");
  const auto tok = Tokenizer::load(d.path());
  EXPECT_EQ(tok->eos_ids(), (std::vector<int32_t>{3}));
  EXPECT_EQ(tok->bos_id(), 2);
  EXPECT_EQ(tok->bos_token(), "<s>");
  EXPECT_EQ(tok->eos_token(), "</s>");
  EXPECT_EQ(tok->add_bos_token(), true);
  EXPECT_FALSE(tok->add_eos_token().has_value());
  EXPECT_EQ(tok->tokenizer_config()["chat_template"], "{{ x }}");
}

TEST(ModelFiles, ConfigAndGenerationConfigOverride) {
  TempDir d;
  d.write("tokenizer.json", tokenizer_json());
  d.write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  d.write("config.json", R"({"eos_token_id": 4, "bos_token_id": 2})");
  EXPECT_EQ(Tokenizer::load(d.path())->eos_ids(), (std::vector<int32_t>{4}));
  EXPECT_EQ(Tokenizer::load(d.path())->bos_id(), 2);
  d.write("generation_config.json", R"({"eos_token_id": [3, 4, 3]})");
  EXPECT_EQ(Tokenizer::load(d.path())->eos_ids(), (std::vector<int32_t>{3, 4}));
  d.write("generation_config.json", R"({"eos_token_id": 0})");  // falsy: config.json stays
  EXPECT_EQ(Tokenizer::load(d.path())->eos_ids(), (std::vector<int32_t>{4}));
  d.write("generation_config.json", "{not json");  // ignored, as mlx-lm does
  EXPECT_EQ(Tokenizer::load(d.path())->eos_ids(), (std::vector<int32_t>{4}));
}

TEST(ModelFiles, SpecialTokensMapOverridesConfig) {
  TempDir d;
  d.write("tokenizer.json", tokenizer_json());
  d.write("tokenizer_config.json", R"({"eos_token": "</s>", "pad_token": null})");
  d.write("special_tokens_map.json", R"({"eos_token": {"content": "<|eot|>"}, "pad_token": "a"})");
  const auto tok = Tokenizer::load(d.path());
  EXPECT_EQ(tok->eos_token(), "<|eot|>");
  EXPECT_EQ(tok->eos_ids(), (std::vector<int32_t>{4}));
  EXPECT_EQ(tok->pad_token(), "a");
  EXPECT_EQ(tok->unk_token(), "");
}

TEST(ModelFiles, Errors) {
  TempDir d;
  EXPECT_THROW(Tokenizer::load(d.path()), Error);  // no tokenizer.json
  d.write("tokenizer.json", "{\"model\": 5}");
  try {
    Tokenizer::load(d.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
  d.write("tokenizer.json", tokenizer_json());
  d.write("tokenizer_config.json", "[1, 2]");
  EXPECT_THROW(Tokenizer::load(d.path()), Error);
}

}  // namespace
}  // namespace ollmlx::tok
