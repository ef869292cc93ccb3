// Normalizers of tokenizer.json ("normalizer"): NFC/NFD/NFKC/NFKD, Lowercase, Replace, Prepend,
// Strip, StripAccents, BertNormalizer, ByteLevel and Sequence (flattened into a list).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_util.h"
#include "tokenizer/piece.h"
#include "tokenizer/regex.h"

namespace ollmlx::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(Piece& piece) const = 0;
};

// Reads {"String": ...} / {"Regex": ...} (Replace and Split patterns).
Pattern parse_pattern(const jsonu::Json& obj, const char* key, const std::string& where);
// Replaces every match of `pattern` in the piece by `content` (HF NormalizedString::replace).
void replace_in_piece(Piece& piece, const Pattern& pattern, std::string_view content);
// Prepends `prefix` unless the piece is empty (HF NormalizedString::prepend).
void prepend_to_piece(Piece& piece, std::string_view prefix);

// The whole normalizer chain (empty = no normalizer).
class NormalizerChain {
 public:
  // Parses the "normalizer" value (null allowed).
  static NormalizerChain parse(const jsonu::Json& value, std::string_view where);
  bool empty() const { return steps_.empty(); }
  void normalize(Piece& piece) const {
    for (const auto& s : steps_) s->normalize(piece);
  }
  std::string normalize_text(std::string_view text) const;

 private:
  void add(const jsonu::Json& value, const std::string& where);
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace ollmlx::tok
