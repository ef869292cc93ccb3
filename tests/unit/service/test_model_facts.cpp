// read_model_facts (/api/show's model_info, details, context length) on small model folders
// written here: a plain config and a multimodal wrapper with the text model under text_config.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "service/model_facts.h"

namespace ollmlx::service {
namespace {

namespace fs = std::filesystem;

// A folder with config.json and a one-tensor model.safetensors (F32 [rows, cols], zeros).
fs::path make_model(const std::string& name, const std::string& config, int rows, int cols) {
  const fs::path dir = fs::temp_directory_path() / ("ollmlx_facts_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config;
  const uint64_t bytes = static_cast<uint64_t>(rows) * cols * 4;
  std::string header = "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(rows) +
                       "," + std::to_string(cols) + "],\"data_offsets\":[0," + std::to_string(bytes) + "]}}";
  while (header.size() % 8) header += ' ';
  std::ofstream f(dir / "model.safetensors", std::ios::binary);
  const uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  f << std::string(bytes, '\0');
  return dir;
}

TEST(ModelFacts, PlainConfig) {
  const fs::path dir = make_model("plain", R"({"model_type":"llama","max_position_embeddings":8192,
      "hidden_size":4,"num_hidden_layers":2,"num_attention_heads":2,"num_key_value_heads":1,
      "intermediate_size":16,"vocab_size":8,"rope_theta":500000.0,"rms_norm_eps":1e-5})", 8, 4);
  const ModelFacts f = read_model_facts(dir.string());
  EXPECT_EQ(f.architecture, "llama");
  EXPECT_EQ(f.parameter_count, 32);
  EXPECT_EQ(f.context_length, 8192);
  EXPECT_EQ(f.model_info.at("llama.context_length"), 8192);
  EXPECT_EQ(f.model_info.at("llama.embedding_length"), 4);
  EXPECT_EQ(f.model_info.at("llama.attention.head_count_kv"), 1);
  EXPECT_EQ(f.model_info.at("llama.rope.freq_base"), 500000.0);
  fs::remove_all(dir);
}

TEST(ModelFacts, MultimodalWrapperReadsTextConfig) {
  // gemma3's wrapper: the language model's settings live under text_config; the wrapper's own
  // vocab_size wins (mlx-lm does the same), text_config's other keys win over the wrapper's.
  const fs::path dir = make_model("wrapper", R"({"model_type":"gemma3","vocab_size":262208,
      "hidden_size":999,"text_config":{"max_position_embeddings":131072,"hidden_size":4,
      "num_hidden_layers":3,"num_attention_heads":4,"num_key_value_heads":2,
      "intermediate_size":16,"vocab_size":100,"rope_theta":1000000.0,"rms_norm_eps":1e-6}})", 8, 4);
  const ModelFacts f = read_model_facts(dir.string());
  EXPECT_EQ(f.architecture, "gemma3");
  EXPECT_EQ(f.context_length, 131072);
  EXPECT_EQ(f.model_info.at("gemma3.context_length"), 131072);
  EXPECT_EQ(f.model_info.at("gemma3.embedding_length"), 4);
  EXPECT_EQ(f.model_info.at("gemma3.block_count"), 3);
  EXPECT_EQ(f.model_info.at("gemma3.attention.head_count"), 4);
  EXPECT_EQ(f.model_info.at("gemma3.attention.head_count_kv"), 2);
  EXPECT_EQ(f.model_info.at("gemma3.feed_forward_length"), 16);
  EXPECT_EQ(f.model_info.at("gemma3.vocab_size"), 262208);
  EXPECT_EQ(f.model_info.at("gemma3.rope.freq_base"), 1000000.0);
  EXPECT_EQ(f.model_info.at("gemma3.attention.layer_norm_rms_epsilon"), 1e-6);
  fs::remove_all(dir);
}

TEST(ModelFacts, MissingKeysAreLeftOut) {
  const fs::path dir = make_model("sparse", R"({"model_type":"qwen2","text_config":"not an object"})", 2, 2);
  const ModelFacts f = read_model_facts(dir.string());
  EXPECT_EQ(f.context_length, 0);
  EXPECT_FALSE(f.model_info.contains("qwen2.context_length"));
  EXPECT_FALSE(f.model_info.contains("qwen2.rope.freq_base"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ollmlx::service
