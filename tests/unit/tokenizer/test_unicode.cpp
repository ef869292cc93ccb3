// UTF-8 handling and the Unicode predicates/normalization the pipeline relies on.
#include <gtest/gtest.h>

#include "tokenizer/unicode.h"

namespace ollmlx::tok::unicode {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Unicode, LossyDecodingReplacesMaximalSubparts) {
  EXPECT_EQ(to_valid_utf8("abc"), "abc");
  EXPECT_EQ(to_valid_utf8("\xC3\xA9"), "\xC3\xA9");
  EXPECT_EQ(to_valid_utf8("\xFF"), kFffd);
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), kFffd + kFffd);  // overlong lead is invalid alone
  EXPECT_EQ(to_valid_utf8("\xE0\x80"), kFffd + kFffd);  // E0 needs A0..BF
  EXPECT_EQ(to_valid_utf8("\xF0\x9F\x98"), kFffd);      // truncated 4-byte: one U+FFFD
  EXPECT_EQ(to_valid_utf8("\xF0\x9F\x98" "a"), kFffd + "a");
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate
  EXPECT_EQ(to_valid_utf8("a\x80" "b"), "a" + kFffd + "b");
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(valid_prefix("ab\xC3"), 2u);
}

TEST(Unicode, DecodeAndEncodeRoundTrip) {
  for (uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u, 0x10FFFFu}) {
    std::string s;
    append_utf8(s, cp);
    size_t len = 0;
    EXPECT_EQ(decode(s, 0, &len), cp);
    EXPECT_EQ(len, s.size());
  }
  EXPECT_EQ(count_chars("a\xC3\xA9\xF0\x9F\x98\x80"), 3u);
}

TEST(Unicode, PredicatesFollowRust) {
  EXPECT_TRUE(is_whitespace(' '));
  EXPECT_TRUE(is_whitespace(0x85));
  EXPECT_TRUE(is_whitespace(0x3000));
  EXPECT_FALSE(is_whitespace(0x180E));  // Mongolian vowel separator is Cf now
  EXPECT_FALSE(is_whitespace(0x200B));  // zero width space is not White_Space
  EXPECT_TRUE(is_numeric('7'));
  EXPECT_TRUE(is_numeric(0x00BD));  // ½ (No)
  EXPECT_TRUE(is_numeric(0x216B));  // Ⅻ (Nl)
  EXPECT_FALSE(is_numeric('x'));
  EXPECT_TRUE(is_punctuation('$'));  // ASCII punctuation includes symbols
  EXPECT_TRUE(is_punctuation(0x3002));  // 。
  EXPECT_FALSE(is_punctuation(0x20AC));  // € is Sc
  EXPECT_TRUE(is_word_char(0x00E9));
  EXPECT_TRUE(is_word_char(0x0301));  // marks count
  EXPECT_TRUE(is_word_char('_'));
  EXPECT_FALSE(is_word_char('-'));
  EXPECT_TRUE(is_other(0x200B));
  EXPECT_FALSE(is_other(0x0378));  // unassigned is left out, as HF's table does
}

TEST(Unicode, Normalization) {
  EXPECT_EQ(normalize("e\xCC\x81", Form::NFC), "\xC3\xA9");
  EXPECT_EQ(normalize("\xC3\xA9", Form::NFD), "e\xCC\x81");
  EXPECT_EQ(normalize("\xEF\xAC\x81", Form::NFKC), "fi");           // ﬁ
  EXPECT_EQ(normalize("\xE2\x84\xAB", Form::NFC), "\xC3\x85");       // Å (angstrom) -> Å
  EXPECT_EQ(normalize("\xE2\x91\xA0", Form::NFKD), "1");             // ①
  EXPECT_EQ(normalize("plain ascii", Form::NFKD), "plain ascii");
}

TEST(Unicode, Lowercase) {
  EXPECT_EQ(lowercase("HeLLo"), "hello");
  EXPECT_EQ(lowercase("\xC4\xB0"), "i\xCC\x87");                     // İ -> i̇
  EXPECT_EQ(lowercase("\xCE\xA3\xCE\x91\xCE\xA3"), "\xCF\x83\xCE\xB1\xCF\x83");  // no final sigma
  EXPECT_EQ(lowercase("\xC3\x84pfel"), "\xC3\xA4pfel");
}

}  // namespace
}  // namespace ollmlx::tok::unicode
