// Added and special tokens ("added_tokens" of tokenizer.json), matched in the input before the
// normalizer/pre-tokenizer run, as HF's AddedVocabulary does: tokens with normalized=false are
// found in the raw text, the others in the normalized text; longest match wins; lstrip/rstrip
// absorb neighbouring whitespace; single_word requires word boundaries.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"

namespace ollmlx::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;  // as written in the file; the vocabulary may assign another (HF rules)
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedToken& o) const {
    return content == o.content && single_word == o.single_word && lstrip == o.lstrip &&
           rstrip == o.rstrip && normalized == o.normalized && special == o.special;
  }
};

// A span of the text being split: an added token (id >= 0) or text to tokenize (id -1).
struct Span {
  size_t start = 0;
  size_t end = 0;
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  // Adds `tokens` one at a time in file order, assigning ids as HF does (the model's id when
  // the content is in its vocab, else the next free id). Returns messages for tokens whose
  // assigned id differs from the file's.
  std::vector<std::string> build(const std::vector<AddedToken>& tokens, const Model& model,
                                 const NormalizerChain& normalizer);

  // Step 1: spans of raw `text` around non-normalized tokens. With parse_special false, special
  // tokens are not matched (HF encode_special_tokens / split_special_tokens).
  void split_raw(std::string_view text, bool parse_special, std::vector<Span>& out) const {
    find(text, raw_, parse_special, out);
  }
  // Step 2: spans of normalized text around normalized tokens.
  void split_normalized(std::string_view text, bool parse_special, std::vector<Span>& out) const {
    find(text, normalized_, parse_special, out);
  }

  std::optional<int32_t> token_to_id(std::string_view content) const;
  // Content of an added token id, or nullptr.
  const std::string* content_of(int32_t id) const;
  bool is_special(std::string_view content) const {
    return special_set_.find(content) != special_set_.end();
  }
  // All (id, token) pairs.
  const std::unordered_map<int32_t, AddedToken>& by_id() const { return by_id_; }

 private:
  // Byte trie with leftmost-longest lookup (aho-corasick MatchKind::LeftmostLongest).
  struct Trie {
    std::vector<int32_t> terminal{-1};  // node -> token id (first inserted pattern wins)
    std::unordered_map<uint64_t, uint32_t> edges;
    std::array<bool, 256> first{};
    void clear();
    void insert(std::string_view pattern, int32_t id);
    size_t longest_at(std::string_view text, size_t pos, int32_t* id) const;
  };
  void find(std::string_view text, const Trie& trie, bool parse_special,
            std::vector<Span>& out) const;
  void refresh(const Model& model, const NormalizerChain& normalizer);

  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> map_;  // content -> id
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::vector<AddedToken> special_tokens_, added_tokens_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> special_set_;
  Trie raw_, normalized_;
  int64_t max_id_ = -1;  // largest id in map_
};

}  // namespace ollmlx::tok
