// UTF-8 helpers with Go's rules (utf8.DecodeRune): surrogates, overlong forms and code points
// above U+10FFFF are invalid, and an invalid sequence counts as one bad byte.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ollmlx::api {

std::string utf8_encode(uint32_t code_point);

// Length (1-4) of the valid UTF-8 sequence at the start of `s`, or 0 if it is invalid or empty.
size_t utf8_sequence_length(std::string_view s);

struct Rune {
  uint32_t code_point;  // 0xFFFD for an invalid byte
  size_t size;          // bytes consumed (1 for an invalid byte)
  bool valid;
};
Rune utf8_decode(std::string_view s);

}  // namespace ollmlx::api
