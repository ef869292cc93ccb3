// UTF-8 and Unicode character helpers for the tokenizer. The predicates follow the Rust
// definitions Hugging Face `tokenizers` uses (char::is_whitespace, char::is_numeric, ...), so the
// pipeline splits text where the reference implementation does. Normalization goes through
// utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ollmlx::tok::unicode {

// Byte length of the UTF-8 sequence starting with `lead` (1 for continuation/invalid bytes).
inline size_t char_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Decodes the code point at s[i] of a valid UTF-8 string; `*len` receives its byte length.
uint32_t decode(std::string_view s, size_t i, size_t* len);

// Appends the UTF-8 encoding of `cp` to `out`.
void append_utf8(std::string& out, uint32_t cp);

// Length of the longest valid UTF-8 prefix of `s`.
size_t valid_prefix(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return valid_prefix(s) == s.size(); }

// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes U+FFFD.
std::string to_valid_utf8(std::string_view bytes);

// Number of code points in a valid UTF-8 string.
size_t count_chars(std::string_view s);

bool is_whitespace(uint32_t cp);      // White_Space property (Rust char::is_whitespace)
bool is_numeric(uint32_t cp);         // general category Nd, Nl or No (char::is_numeric)
bool is_punctuation(uint32_t cp);     // ASCII punctuation or category P* (HF is_punc)
bool is_mark(uint32_t cp);            // category M* (StripAccents)
bool is_nonspacing_mark(uint32_t cp); // category Mn (BertNormalizer strip_accents)
bool is_other(uint32_t cp);           // Cc, Cf, Cs, Co (BertNormalizer clean_text)
bool is_chinese_char(uint32_t cp);    // CJK ideograph blocks (BertNormalizer)
// Rust regex `\w`: Alphabetic, M*, Nd, Pc or Join_Control (approximated from categories).
bool is_word_char(uint32_t cp);

enum class Form { NFC, NFD, NFKC, NFKD };
// Unicode normalization of valid UTF-8 (ASCII-only input is returned unchanged).
std::string normalize(std::string_view s, Form form);

// Full per-character lowercase mapping, as Rust's char::to_lowercase (no final-sigma rule).
std::string lowercase(std::string_view s);

}  // namespace ollmlx::tok::unicode
