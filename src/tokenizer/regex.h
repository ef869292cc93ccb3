// Split/Replace patterns of tokenizer.json. Hugging Face compiles them with Oniguruma (Ruby
// syntax); we translate that syntax to PCRE2 (UTF + UCP, JIT-compiled) and iterate matches the
// way the onig crate's find_iter does, so splits land on the same offsets.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::tok {

// A piece of text between pattern matches or a match itself (HF `Pattern::find_matches`).
struct Match {
  size_t start = 0;
  size_t end = 0;
  bool is_match = false;
};

class Pattern {
 public:
  // An Oniguruma pattern as tokenizer.json stores it under {"Regex": ...}. Throws Error.
  static Pattern regex(std::string_view onig_pattern);
  // A pattern already in PCRE2 syntax (compiled with UTF + UCP).
  static Pattern pcre2(std::string_view pattern);
  // A literal string ({"String": ...}); behaves as the escaped regex would (the empty string
  // matches at every character boundary).
  static Pattern literal(std::string_view text);
  // One specific character (HF's char patterns, e.g. Metaspace's ' ').
  static Pattern character(std::string_view utf8_char) { return literal(utf8_char); }

  // Match positions in order (onig find_iter: an empty match right after the previous match is
  // skipped). `text` must be valid UTF-8.
  void find_iter(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  // Covers `text` with contiguous non-match/match pieces (empty text -> one empty non-match).
  void find_matches(std::string_view text, std::vector<Match>& out, bool invert = false) const;

  const std::string& source() const { return source_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;  // null for a non-empty literal
  std::string literal_;
  std::string source_;
};

// The PCRE2 spelling of an Oniguruma (Ruby syntax) pattern: \s, \d, \w, \h get their Oniguruma
// Unicode meanings, \uHHHH becomes \x{HHHH}, (?m) becomes (?s). Throws Error for constructs PCRE2
// cannot express (nested classes, && intersections). Exposed for tests.
std::string translate_onig(std::string_view pattern);

// Rust regex `\w` at the end of `s` / at the start of `s` (AddedToken single_word checks).
bool ends_with_word_char(std::string_view s);
bool starts_with_word_char(std::string_view s);

}  // namespace ollmlx::tok
