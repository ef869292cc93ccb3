// Helpers shared by the tokenizer tests: fixture lookup, file reading, a self-deleting temp dir
// and a builder for small tokenizer.json documents.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ollmlx::tok::testing {

// $OLLMLX_FIXTURES/tokenizers, else <source>/tests/fixtures/generated/tokenizers.
std::string fixtures_dir();
// OLLMLX_REQUIRE_FIXTURES=1: missing fixtures fail instead of skipping.
bool fixtures_required();
std::string source_dir();
std::string read_file(const std::string& path);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

// A small BPE tokenizer.json: vocab from `tokens` (id = index), `merges` as "a b" strings, plus
// any top-level overrides (normalizer, pre_tokenizer, added_tokens, ...) merged in.
nlohmann::json mini_bpe(const std::vector<std::string>& tokens,
                        const std::vector<std::string>& merges,
                        const nlohmann::json& overrides = nlohmann::json::object(),
                        const nlohmann::json& model_overrides = nlohmann::json::object());
std::unique_ptr<Tokenizer> make(const nlohmann::json& tokenizer_json);

// An added_tokens entry.
nlohmann::json added(int id, const std::string& content, bool special, bool normalized = false,
                     bool lstrip = false, bool rstrip = false, bool single_word = false);

}  // namespace ollmlx::tok::testing
