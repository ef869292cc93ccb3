// Tokenization models of tokenizer.json ("model"): BPE (byte-level and SentencePiece-style, with
// byte_fallback, ignore_merges, fuse_unk, unk, continuing_subword_prefix, end_of_word_suffix)
// and WordLevel. Unigram and WordPiece are rejected with a clear error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_util.h"
#include "tokenizer/string_map.h"

namespace ollmlx::tok {

// Hash/equality that let unordered maps keyed by std::string be searched with string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = FlatStringMap<int32_t>;

// Per-encode memo of word -> ids (words shorter than 256 bytes, as HF caches).
class WordCache {
 public:
  // Appends the cached ids of `word` to `out`; false if absent.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const;
  void store(std::string_view word, const int32_t* ids, size_t n);

 private:
  FlatStringMap<std::pair<uint32_t, uint32_t>> index_;  // word -> (offset, count) in ids_
  std::vector<int32_t> ids_;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-token (non-empty, valid UTF-8) to `out`.
  virtual void tokenize(std::string_view word, std::vector<int32_t>& out,
                        WordCache* cache) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  // Number of vocabulary entries (HF Model::get_vocab_size).
  virtual size_t size() const = 0;
  virtual const Vocab& vocab() const = 0;
};

// Parses the "model" object. Throws Error naming `where` for malformed or unsupported models.
std::unique_ptr<Model> parse_model(const jsonu::Json& value, std::string_view where);

// Parts of parse_model (bpe.cpp).
Vocab parse_vocab(const jsonu::Json& model, const std::string& where);
std::unique_ptr<Model> parse_bpe(const jsonu::Json& model, const std::string& where);

}  // namespace ollmlx::tok
