// Reads request bodies as Go's encoding/json Decoder does, so that malformed input gets the exact
// error text Ollama clients see ("invalid character '}' looking for beginning of object key
// string", "unexpected EOF") and sloppy input is accepted the same way (trailing bytes after the
// first value ignored, invalid UTF-8 replaced).
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "api/go_json.h"
#include "api/utf8.h"

namespace ollmlx::api {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Go's quoteChar: how a byte appears in a syntax error.
std::string quote_char(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  std::string q = go_quote(std::string_view(utf8_encode(c)));
  return "'" + q.substr(1, q.size() - 2) + "'";
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Json parse_top() {
    skip_space();
    if (pos_ >= s_.size()) throw ApiError(400, "missing request body");
    return value(0);
  }

 private:
  [[noreturn]] void syntax(std::string_view context) const {
    throw ApiError(400, "invalid character " + quote_char(static_cast<unsigned char>(s_[pos_])) +
                            " " + std::string(context));
  }
  [[noreturn]] static void eof() { throw ApiError(400, "unexpected EOF"); }

  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }
  char peek() const {
    if (pos_ >= s_.size()) eof();
    return s_[pos_];
  }

  Json value(int depth) {
    const char c = peek();
    switch (c) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return Json(string());
      case 't': return literal("true", Json(true));
      case 'f': return literal("false", Json(false));
      case 'n': return literal("null", Json(nullptr));
      default:
        if (c == '-' || is_digit(c)) return number();
        syntax("looking for beginning of value");
    }
  }

  void check_depth(int depth) const {
    if (depth > kMaxJsonDepth) throw ApiError(400, "exceeded max depth");
  }

  Json object(int depth) {
    check_depth(depth);
    ++pos_;
    Json obj = Json::object();
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return obj;
    }
    for (;;) {
      if (peek() != '"') syntax("looking for beginning of object key string");
      std::string key = string();
      skip_space();
      if (peek() != ':') syntax("after object key");
      ++pos_;
      skip_space();
      Json v = value(depth);
      obj[key] = std::move(v);  // a repeated key keeps its first position, last value wins
      skip_space();
      const char c = peek();
      if (c == '}') {
        ++pos_;
        return obj;
      }
      if (c != ',') syntax("after object key:value pair");
      ++pos_;
      skip_space();
    }
  }

  Json array(int depth) {
    check_depth(depth);
    ++pos_;
    Json arr = Json::array();
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return arr;
    }
    for (;;) {
      arr.push_back(value(depth));
      skip_space();
      const char c = peek();
      if (c == ']') {
        ++pos_;
        return arr;
      }
      if (c != ',') syntax("after array element");
      ++pos_;
      skip_space();
    }
  }

  Json literal(std::string_view word, Json result) {
    for (size_t i = 1; i < word.size(); ++i) {
      ++pos_;
      if (peek() != word[i]) {
        syntax("in literal " + std::string(word) + " (expecting '" + std::string(1, word[i]) +
               "')");
      }
    }
    ++pos_;
    return result;
  }

  int hex4() {
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      int d;
      if (is_digit(c)) d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else syntax("in \\u hexadecimal character escape");
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  // A \uXXXX escape (the "\u" already consumed), pairing surrogates as Go does.
  void unicode_escape(std::string& out) {
    int r = hex4();
    if (r >= 0xD800 && r < 0xE000) {
      // Go looks ahead for a second escape only to pair it; a lone surrogate becomes U+FFFD and
      // whatever follows is read on its own.
      if (r < 0xDC00 && pos_ + 6 <= s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
        const size_t save = pos_;
        pos_ += 2;
        bool ok = true;
        int lo = 0;
        for (int i = 0; i < 4 && ok; ++i) {
          const char c = s_[pos_ + i];
          const int d = is_digit(c) ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
          if (d < 0) ok = false;
          lo = lo * 16 + d;
        }
        if (ok && lo >= 0xDC00 && lo < 0xE000) {
          pos_ += 4;
          out += utf8_encode(0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00));
          return;
        }
        pos_ = save;
      }
      r = 0xFFFD;
    }
    out += utf8_encode(static_cast<uint32_t>(r));
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      const char c = peek();
      const auto u = static_cast<unsigned char>(c);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (u < 0x20) syntax("in string literal");
      if (c == '\\') {
        ++pos_;
        const char e = peek();
        ++pos_;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': unicode_escape(out); break;
          default:
            --pos_;
            syntax("in string escape code");
        }
        continue;
      }
      if (u < 0x80) {
        out += c;
        ++pos_;
        continue;
      }
      const size_t n = utf8_sequence_length(s_.substr(pos_));
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++pos_;
      } else {
        out.append(s_.substr(pos_, n));
        pos_ += n;
      }
    }
  }

  Json number() {
    const size_t start = pos_;
    bool is_float = false;
    if (s_[pos_] == '-') {
      ++pos_;
      if (!is_digit(peek())) syntax("in numeric literal");
    }
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      is_float = true;
      ++pos_;
      if (!is_digit(peek())) syntax("after decimal point in numeric literal");
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      is_float = true;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) syntax("in exponent of numeric literal");
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    const std::string_view text = s_.substr(start, pos_ - start);
    const char* first = text.data();
    const char* last = text.data() + text.size();
    if (text == "-0") return Json(-0.0);  // Go keeps the sign: it decodes numbers as float64
    if (!is_float) {
      int64_t i = 0;
      if (auto r = std::from_chars(first, last, i); r.ec == std::errc() && r.ptr == last) {
        return Json(i);
      }
      uint64_t u = 0;
      if (auto r = std::from_chars(first, last, u); r.ec == std::errc() && r.ptr == last) {
        return Json(u);
      }
    }
    double d = 0;
    const auto r = std::from_chars(first, last, d);
    if (r.ec == std::errc() && r.ptr == last) return Json(d);
    // Out of range: Go accepts underflow (as 0) and refuses overflow.
    const std::string copy(text);
    errno = 0;
    d = std::strtod(copy.c_str(), nullptr);
    if (std::isinf(d)) {
      throw ApiError(400, "json: cannot unmarshal number " + copy +
                              " into Go value of type float64");
    }
    return Json(d);
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

Json parse_go_json(std::string_view body) { return Parser(body).parse_top(); }

}  // namespace ollmlx::api
