// The byte <-> character tables of GPT-2's byte-level alphabet (see byte_level.h).
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace ollmlx::tok::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> chars;
  std::array<int16_t, 256 + 68> byte;  // code point -> byte, -1 outside the alphabet
  Tables() {
    byte.fill(-1);
    uint32_t n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t code = printable ? static_cast<uint32_t>(b) : 256 + n++;
      unicode::append_utf8(chars[b], code);
      byte[code] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string_view char_of(uint8_t b) { return tables().chars[b]; }

void map_bytes(std::string_view in, std::string& out) {
  const Tables& t = tables();
  out.reserve(out.size() + in.size() * 2);
  for (unsigned char c : in) out.append(t.chars[c]);
}

int byte_of(uint32_t cp) {
  const Tables& t = tables();
  return cp < t.byte.size() ? t.byte[cp] : -1;
}

}  // namespace ollmlx::tok::byte_level
