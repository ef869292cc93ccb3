// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): ByteLevel, Split, Digits, Metaspace,
// Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, CharDelimiterSplit and Sequence
// (flattened into a list of steps).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "tokenizer/json_util.h"
#include "tokenizer/piece.h"
#include "tokenizer/regex.h"

namespace ollmlx::tok {

// HF SplitDelimiterBehavior.
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// HF NormalizedString::split: turns match/non-match pieces into sub-pieces of `p` per
// `behavior`, appending the non-empty ones to `out`.
void split_piece(const Piece& p, const std::vector<Match>& matches, Behavior behavior,
                 std::vector<Piece>& out);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits `in` (non-empty) into non-empty pieces appended to `out`.
  virtual void split(Piece&& in, std::vector<Piece>& out) const = 0;
};

class PreTokenizerChain {
 public:
  // Parses the "pre_tokenizer" value (null allowed).
  static PreTokenizerChain parse(const jsonu::Json& value, std::string_view where);
  size_t size() const { return steps_.size(); }
  const PreTokenizer& step(size_t i) const { return *steps_[i]; }

 private:
  void add(const jsonu::Json& value, const std::string& where);
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace ollmlx::tok
