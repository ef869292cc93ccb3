// Python-exact text forms of floats and strings (see pyformat.h).
#include "template/pyformat.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "template/unicode.h"

namespace ollmlx::tmpl {

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form: "-d.ddde+XX".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out += '-';
    i = 1;
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e; ++k) {
    if (sci[k] != '.') digits += sci[k];
  }
  const int exp10 = std::atoi(sci.c_str() + e + 1);
  const int decpt = exp10 + 1;  // position of the decimal point relative to digits
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decpt), '0');
      out += digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits;
      out.append(static_cast<size_t>(decpt) - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt));
      out += '.';
      out += digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  out += ebuf;
  return out;
}

std::string str_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    const char32_t c = utf8_next(s, i);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c < 0x7F || py_isprintable(c)) {
      utf8_append(out, c);
    } else {
      char buf[16];
      if (c <= 0xFF) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      } else if (c <= 0xFFFF) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      }
      out += buf;
    }
  }
  out += quote;
  return out;
}

void json_quote(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      switch (b) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (b < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", b);
            out += buf;
          } else {
            out += static_cast<char>(b);
          }
      }
      continue;
    }
    const size_t start = i;
    const char32_t c = utf8_next(s, i);
    if (!ensure_ascii) {
      if (c == 0xFFFD) {
        utf8_append(out, c);
      } else {
        out.append(s.substr(start, i - start));
      }
      continue;
    }
    char buf[16];
    if (c <= 0xFFFF) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
    } else {
      const char32_t v = c - 0x10000;
      std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                    static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
    }
    out += buf;
  }
  out += '"';
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string_view strip_py_space(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    size_t j = b;
    if (!py_isspace(utf8_next(s, j))) break;
    b = j;
  }
  size_t e = s.size();
  while (e > b) {
    // Step back to the start of the previous code point.
    size_t k = e - 1;
    while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
    size_t j = k;
    if (!py_isspace(utf8_next(s, j))) break;
    e = k;
  }
  return s.substr(b, e - b);
}

// Removes '_' that sit between two digits; false for any other '_'.
bool remove_underscores(std::string_view s, std::string& out, bool (*is_digit)(char)) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !is_digit(s[i - 1]) || !is_digit(s[i + 1])) return false;
      continue;
    }
    out += s[i];
  }
  return true;
}

bool is_dec(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool parse_py_float(std::string_view s, double& out) {
  s = strip_py_space(s);
  if (s.empty()) return false;
  std::string_view body = s;
  bool neg = false;
  if (body[0] == '+' || body[0] == '-') {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  std::string lower;
  for (char c : body) lower += static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  if (lower == "inf" || lower == "infinity") {
    out = neg ? -HUGE_VAL : HUGE_VAL;
    return true;
  }
  if (lower == "nan") {
    out = std::nan("");
    return true;
  }
  std::string clean;
  if (!remove_underscores(body, clean, is_dec)) return false;
  // Only digits, one '.', and an exponent are allowed (from_chars also accepts "inf" etc.).
  size_t i = 0;
  size_t digits = 0;
  while (i < clean.size() && is_dec(clean[i])) ++i, ++digits;
  if (i < clean.size() && clean[i] == '.') {
    ++i;
    while (i < clean.size() && is_dec(clean[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < clean.size() && (clean[i] == 'e' || clean[i] == 'E')) {
    ++i;
    if (i < clean.size() && (clean[i] == '+' || clean[i] == '-')) ++i;
    size_t ed = 0;
    while (i < clean.size() && is_dec(clean[i])) ++i, ++ed;
    if (ed == 0) return false;
  }
  if (i != clean.size()) return false;
  double v = 0;
  auto res = std::from_chars(clean.data(), clean.data() + clean.size(), v);
  if (res.ec == std::errc::result_out_of_range) {
    // Overflow gives inf in Python, underflow 0.
    v = std::strtod(clean.c_str(), nullptr);
  } else if (res.ec != std::errc() || res.ptr != clean.data() + clean.size()) {
    return false;
  }
  out = neg ? -v : v;
  return true;
}

bool parse_py_int(std::string_view s, int base, int64_t& out) {
  s = strip_py_space(s);
  if (s.empty() || base == 1 || base < 0 || base > 36) return false;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  auto prefix_base = [&](char c) -> int {
    c = static_cast<char>(c | 32);
    return c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;
  };
  if (s.size() >= 2 && s[0] == '0') {
    const int pb = prefix_base(s[1]);
    if (pb != 0 && (base == 0 || base == pb)) {
      base = pb;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) {
    // Base 0 without prefix: decimal, and a leading zero is only allowed for zero itself.
    base = 10;
    if (s.size() > 1 && s[0] == '0') {
      for (char c : s) {
        if (c != '0' && c != '_') return false;
      }
    }
  }
  if (s.empty()) return false;
  uint64_t acc = 0;
  bool prev_digit = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (!prev_digit || i + 1 >= s.size()) return false;
      prev_digit = false;
      continue;
    }
    int d = -1;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'z')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z')
      d = c - 'A' + 10;
    if (d < 0 || d >= base) return false;
    if (__builtin_mul_overflow(acc, static_cast<uint64_t>(base), &acc) ||
        __builtin_add_overflow(acc, static_cast<uint64_t>(d), &acc) ||
        acc > static_cast<uint64_t>(INT64_MAX) + 1) {
      return false;
    }
    prev_digit = true;
  }
  if (!neg && acc > static_cast<uint64_t>(INT64_MAX)) return false;
  out = neg ? static_cast<int64_t>(0 - acc) : static_cast<int64_t>(acc);
  return true;
}

}  // namespace ollmlx::tmpl
