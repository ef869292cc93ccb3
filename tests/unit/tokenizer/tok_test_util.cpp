// Implementation of the tokenizer test helpers (see tok_test_util.h).
#include "tok_test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace ollmlx::tok::testing {

std::string source_dir() {
  if (const char* s = std::getenv("OLLMLX_SOURCE_DIR")) return s;
  return OLLMLX_TEST_SOURCE_DIR;
}

std::string fixtures_dir() {
  if (const char* e = std::getenv("OLLMLX_FIXTURES")) return std::string(e) + "/tokenizers";
  return source_dir() + "/tests/fixtures/generated/tokenizers";
}

bool fixtures_required() {
  const char* e = std::getenv("OLLMLX_REQUIRE_FIXTURES");
  return e != nullptr && std::string(e) == "1";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto p = base / ("ollmlx-tok-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temp dir");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& text) const {
  std::ofstream out(path_ + "/" + name, std::ios::binary);
  out << text;
}

nlohmann::json mini_bpe(const std::vector<std::string>& tokens,
                        const std::vector<std::string>& merges, const nlohmann::json& overrides,
                        const nlohmann::json& model_overrides) {
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  nlohmann::json model = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                          {"vocab", vocab}, {"merges", merges}};
  if (model_overrides.is_object()) model.update(model_overrides);
  nlohmann::json j = {{"version", "1.0"},       {"truncation", nullptr},
                      {"padding", nullptr},     {"added_tokens", nlohmann::json::array()},
                      {"normalizer", nullptr},  {"pre_tokenizer", nullptr},
                      {"post_processor", nullptr}, {"decoder", nullptr},
                      {"model", model}};
  if (overrides.is_object()) j.update(overrides);
  return j;
}

std::unique_ptr<Tokenizer> make(const nlohmann::json& tokenizer_json) {
  return Tokenizer::from_json(tokenizer_json.dump());
}

nlohmann::json added(int id, const std::string& content, bool special, bool normalized,
                     bool lstrip, bool rstrip, bool single_word) {
  return {{"id", id},         {"content", content}, {"single_word", single_word},
          {"lstrip", lstrip}, {"rstrip", rstrip},   {"normalized", normalized},
          {"special", special}};
}

}  // namespace ollmlx::tok::testing
