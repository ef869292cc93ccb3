// Oniguruma -> PCRE2 translation and the match iteration semantics of HF's Split (expected
// pieces were produced by `tokenizers`' own Split pre-tokenizer).
#include <gtest/gtest.h>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "util/error.h"

namespace ollmlx::tok {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(const Pattern& p, const std::string& text, Behavior b = Behavior::Isolated,
             bool invert = false) {
  std::vector<Match> m;
  p.find_matches(text, m, invert);
  Piece whole;
  whole.text = text;
  std::vector<Piece> out;
  split_piece(whole, m, b, out);
  Pieces r;
  for (const Piece& x : out) r.push_back(x.text);
  return r;
}

Pieces split_re(const std::string& re, const std::string& text) {
  return split(Pattern::regex(re), text);
}

TEST(Regex, TranslatesOnigurumaClasses) {
  EXPECT_EQ(translate_onig("\\s+"), "[\\t-\\r\\x{85}\\p{Z}]+");
  EXPECT_EQ(translate_onig("[^\\s\\p{L}]"), "[^\\t-\\r\\x{85}\\p{Z}\\p{L}]");
  EXPECT_EQ(translate_onig("\\d"), "\\p{Nd}");
  EXPECT_EQ(translate_onig("\\h"), "[0-9a-fA-F]");
  EXPECT_EQ(translate_onig("\\u00e9"), "\\x{00e9}");
  EXPECT_EQ(translate_onig("(?m:.)"), "(?s:.)");
  EXPECT_EQ(translate_onig("(?i:'s|'t)"), "(?i:'s|'t)");
  EXPECT_EQ(translate_onig("\\[\\]"), "\\[\\]");
  EXPECT_THROW(translate_onig("[a[b]]"), Error);
  EXPECT_THROW(translate_onig("[a-z&&[^c]]"), Error);
  EXPECT_THROW(Pattern::regex("(unclosed"), Error);
}

TEST(Regex, EmptyMatchesFollowOnigIteration) {
  EXPECT_EQ(split_re("\\s*", "a b  c"), (Pieces{"a", " ", "b", "  ", "c"}));
  EXPECT_EQ(split_re("", "ab"), (Pieces{"a", "b"}));
  EXPECT_EQ(split(Pattern::literal(""), "ab"), (Pieces{"a", "b"}));
}

TEST(Regex, MatchesLikeHuggingFace) {
  EXPECT_EQ(split_re("(?i:'s|'t)", "it'S 'T"), (Pieces{"it", "'S", " ", "'T"}));
  EXPECT_EQ(split_re("\\s+(?!\\S)|\\s+", "a   b  \n"), (Pieces{"a", "  ", " ", "b", "  \n"}));
  EXPECT_EQ(split_re("\\p{L}+|\\p{N}{1,3}", "abc12345d\xC3\xA9" "f"),
            (Pieces{"abc", "123", "45", "d\xC3\xA9" "f"}));
  EXPECT_EQ(split_re("[^\\s\\p{L}\\p{N}]+", "a,.b !?c"), (Pieces{"a", ",.", "b ", "!?", "c"}));
  EXPECT_EQ(split_re("\\d+", "a\xD9\xA1\xD9\xA2" "3b"), (Pieces{"a", "\xD9\xA1\xD9\xA2" "3", "b"}));
  EXPECT_EQ(split_re("\\w+", "na\xC3\xAFve_x-y"), (Pieces{"na\xC3\xAFve_x", "-", "y"}));
  EXPECT_EQ(split_re("^a|b$", "ab\nab"), (Pieces{"a", "b", "\n", "a", "b"}));  // Ruby: multiline
  EXPECT_EQ(split_re("\\h+", "xyz0fAg"), (Pieces{"xyz", "0fA", "g"}));
  EXPECT_EQ(split_re("\\u00e9", "caf\xC3\xA9!"), (Pieces{"caf", "\xC3\xA9", "!"}));
}

TEST(Regex, SplitBehaviors) {
  const Pattern dash = Pattern::literal("-");
  const std::string s = "the-final--countdown";
  EXPECT_EQ(split(dash, s, Behavior::Removed), (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(split(dash, s, Behavior::Isolated),
            (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(dash, s, Behavior::MergedWithPrevious),
            (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(dash, s, Behavior::MergedWithNext),
            (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(dash, s, Behavior::Contiguous), (Pieces{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(split(dash, s, Behavior::Removed, /*invert=*/true), (Pieces{"-", "-", "-"}));
}

TEST(Regex, WordCharHelpers) {
  EXPECT_TRUE(ends_with_word_char("abc"));
  EXPECT_FALSE(ends_with_word_char("abc "));
  EXPECT_TRUE(ends_with_word_char("caf\xC3\xA9"));
  EXPECT_FALSE(starts_with_word_char(", x"));
  EXPECT_FALSE(starts_with_word_char(""));
}

}  // namespace
}  // namespace ollmlx::tok
