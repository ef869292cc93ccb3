// Splits template source into tokens exactly as jinja2's lexer does with transformers' settings
// (trim_blocks, lstrip_blocks, `-`/`+` whitespace control, raw blocks, one trailing newline
// dropped, \r\n and \r turned into \n).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::tmpl {

enum class Tok : uint8_t {
  Data,        // template text (value in text)
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,  // unescaped value in text
  Int,
  Float,
  Op,  // operator text in text: + - / // * % ** ~ [ ] ( ) { } == != > >= < <= = . : | , ;
  Eof,
};

struct Token {
  Tok type;
  std::string text;
  int64_t ival = 0;
  double fval = 0;
  uint32_t pos = 0;  // byte offset in the normalized source
};

// The source as the lexer sees it: newlines normalized, one trailing newline removed.
std::string normalize_source(std::string_view source);

// Tokenizes normalized source; throws Failure(Syntax) with a position on errors.
std::vector<Token> tokenize(const std::string& source);

}  // namespace ollmlx::tmpl
