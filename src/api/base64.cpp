// Base64 validation with Go's exact error offsets, and encoding (see base64.h).
#include "api/base64.h"

namespace ollmlx::api {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}
bool is_nl(char c) { return c == '\n' || c == '\r'; }

// One quantum as Go's decodeQuantum; returns the new position or sets `err`.
size_t quantum(std::string_view src, size_t si, std::optional<size_t>& err) {
  for (int j = 0; j < 4; ++j) {
    if (si == src.size()) {
      if (j == 0) return si;
      err = si - static_cast<size_t>(j);
      return si;
    }
    const char in = src[si++];
    if (is_b64(in)) continue;
    if (is_nl(in)) {
      --j;
      continue;
    }
    if (in != '=') {
      err = si - 1;
      return si;
    }
    if (j < 2) {
      err = si - 1;
      return si;
    }
    if (j == 2) {
      while (si < src.size() && is_nl(src[si])) ++si;
      if (si == src.size()) {
        err = src.size();
        return si;
      }
      if (src[si] != '=') {
        err = si - 1;
        return si;
      }
      ++si;
    }
    while (si < src.size() && is_nl(src[si])) ++si;
    if (si < src.size()) err = si;
    return si;
  }
  return si;
}

}  // namespace

std::optional<size_t> base64_error_offset(std::string_view s) {
  std::optional<size_t> err;
  size_t si = 0;
  while (si < s.size()) {
    si = quantum(s, si, err);
    if (err) return err;
  }
  return std::nullopt;
}

std::string base64_encode(const uint8_t* data, size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < size) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < size) v |= uint32_t{data[i + 1]} << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += (i + 1 < size) ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace ollmlx::api
