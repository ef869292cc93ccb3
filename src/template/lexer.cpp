// jinja2-compatible tokenizer (see lexer.h). Mirrors the regex rules of jinja2/lexer.py with
// trim_blocks=True and lstrip_blocks=True, written as a hand-rolled scanner.
#include "template/lexer.h"

#include <fmt/format.h>

#include "template/failure.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

[[noreturn]] void syntax(uint32_t pos, std::string msg) {
  throw Failure(ErrorKind::Syntax, std::move(msg), pos);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src), n_(src.size()) {}

  std::vector<Token> run() {
    size_t pos = 0;
    while (pos < n_) pos = root(pos);
    Token eof{Tok::Eof, "", 0, 0, static_cast<uint32_t>(n_)};
    out_.push_back(std::move(eof));
    return std::move(out_);
  }

 private:
  // Length of the Python-whitespace code point at p, or 0.
  size_t space_at(size_t p) const {
    if (p >= n_) return 0;
    size_t q = p;
    return py_isspace(utf8_next(s_, q)) ? q - p : 0;
  }
  size_t skip_space(size_t p) const {
    while (size_t k = space_at(p)) p += k;
    return p;
  }
  bool starts(size_t p, std::string_view lit) const {
    return s_.compare(p, lit.size(), lit) == 0 && p + lit.size() <= n_;
  }

  static std::string rstrip_py(std::string_view text) {
    size_t e = text.size();
    while (e > 0) {
      size_t k = e - 1;
      while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
      size_t q = k;
      if (!py_isspace(utf8_next(text, q))) break;
      e = k;
    }
    return std::string(text.substr(0, e));
  }

  // Applies `-` / lstrip_blocks to the text before a tag and emits it.
  void emit_data(std::string_view text, char sign, bool lstrip_allowed, uint32_t pos) {
    std::string data;
    if (sign == '-') {
      data = rstrip_py(text);
    } else {
      data = std::string(text);
      if (sign != '+' && lstrip_allowed) {
        const size_t nl = data.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting_) {
          bool all_space = l_pos < data.size();
          for (size_t p = l_pos; p < data.size() && all_space;) {
            size_t q = p;
            if (!py_isspace(utf8_next(data, q))) all_space = false;
            p = q;
          }
          if (all_space) data.resize(l_pos);
        }
      }
    }
    if (!data.empty()) push(Tok::Data, std::move(data), pos);
  }

  void push(Tok t, std::string text, uint32_t pos) {
    Token tok;
    tok.type = t;
    tok.text = std::move(text);
    tok.pos = pos;
    out_.push_back(std::move(tok));
  }

  // Matches `{%[-+]?\s*raw\s*(-%}\s*|%})` at p; returns the end or npos.
  size_t match_raw_begin(size_t p) const {
    size_t q = p + 2;
    if (q < n_ && (s_[q] == '-' || s_[q] == '+')) ++q;
    q = skip_space(q);
    if (!starts(q, "raw")) return std::string::npos;
    q = skip_space(q + 3);
    if (starts(q, "-%}")) return skip_space(q + 3);
    if (starts(q, "%}")) return q + 2;
    return std::string::npos;
  }

  size_t root(size_t pos) {
    size_t i = pos;
    while (true) {
      i = s_.find('{', i);
      if (i == std::string::npos || i + 1 >= n_) {
        push_plain(pos, n_);
        return n_;
      }
      const char k = s_[i + 1];
      if (k == '%' || k == '#' || k == '{') break;
      ++i;
    }
    const char kind = s_[i + 1];
    const char sign = (i + 2 < n_ && (s_[i + 2] == '-' || s_[i + 2] == '+')) ? s_[i + 2] : 0;
    const std::string_view text(s_.data() + pos, i - pos);
    const auto tag_pos = static_cast<uint32_t>(i);
    if (kind == '%') {
      const size_t raw_end = match_raw_begin(i);
      if (raw_end != std::string::npos) {
        emit_data(text, sign, true, static_cast<uint32_t>(pos));
        line_starting_ = s_[raw_end - 1] == '\n';
        return raw(raw_end, tag_pos);
      }
    }
    emit_data(text, sign, kind != '{', static_cast<uint32_t>(pos));
    line_starting_ = false;
    const size_t body = i + 2 + (sign ? 1 : 0);
    if (kind == '#') return comment(body, tag_pos);
    push(kind == '%' ? Tok::BlockBegin : Tok::VarBegin, "", tag_pos);
    return tag(body, kind == '%');
  }

  void push_plain(size_t from, size_t to) {
    if (to > from) push(Tok::Data, s_.substr(from, to - from), static_cast<uint32_t>(from));
  }

  size_t comment(size_t p, uint32_t open_pos) {
    for (size_t k = p; k < n_; ++k) {
      size_t end = std::string::npos;
      if (starts(k, "+#}")) {
        end = k + 3;
      } else if (starts(k, "-#}")) {
        end = skip_space(k + 3);
      } else if (starts(k, "#}")) {
        end = k + 2;
        if (end < n_ && s_[end] == '\n') ++end;
      }
      if (end != std::string::npos) {
        line_starting_ = s_[end - 1] == '\n';
        return end;
      }
    }
    syntax(open_pos, "Missing end of comment tag");
  }

  size_t raw(size_t p, uint32_t open_pos) {
    for (size_t k = s_.find("{%", p); k != std::string::npos; k = s_.find("{%", k + 1)) {
      size_t q = k + 2;
      char sign = 0;
      if (q < n_ && (s_[q] == '-' || s_[q] == '+')) sign = s_[q++];
      q = skip_space(q);
      if (!starts(q, "endraw")) continue;
      q = skip_space(q + 6);
      size_t end = std::string::npos;
      if (starts(q, "+%}")) {
        end = q + 3;
      } else if (starts(q, "-%}")) {
        end = skip_space(q + 3);
      } else if (starts(q, "%}")) {
        end = q + 2;
        if (end < n_ && s_[end] == '\n') ++end;
      }
      if (end == std::string::npos) continue;
      emit_data(std::string_view(s_.data() + p, k - p), sign, true, static_cast<uint32_t>(p));
      line_starting_ = s_[end - 1] == '\n';
      return end;
    }
    syntax(open_pos, "Missing end of raw directive");
  }

  // Scans tokens inside {% %} or {{ }} up to and including the end tag.
  size_t tag(size_t p, bool block) {
    std::vector<char> balance;
    while (true) {
      if (balance.empty()) {
        size_t end = std::string::npos;
        if (block) {
          if (starts(p, "+%}")) {
            end = p + 3;
          } else if (starts(p, "-%}")) {
            end = skip_space(p + 3);
          } else if (starts(p, "%}")) {
            end = p + 2;
            if (end < n_ && s_[end] == '\n') ++end;
          }
        } else {
          if (starts(p, "-}}")) {
            end = skip_space(p + 3);
          } else if (starts(p, "}}")) {
            end = p + 2;
          }
        }
        if (end != std::string::npos) {
          push(block ? Tok::BlockEnd : Tok::VarEnd, "", static_cast<uint32_t>(p));
          line_starting_ = s_[end - 1] == '\n';
          return end;
        }
      }
      if (p >= n_) return n_;  // unterminated tag: the parser reports it
      if (size_t k = space_at(p)) {
        const size_t e = skip_space(p + k);
        line_starting_ = s_[e - 1] == '\n';
        p = e;
        continue;
      }
      line_starting_ = false;
      if (size_t e = number(p); e != std::string::npos) {
        p = e;
        continue;
      }
      if (size_t e = name(p); e != std::string::npos) {
        p = e;
        continue;
      }
      if (s_[p] == '\'' || s_[p] == '"') {
        if (size_t e = string(p); e != std::string::npos) {
          p = e;
          continue;
        }
      }
      p = op(p, balance);
    }
  }

  // `(\d+_)*\d+` at p; returns the end or npos.
  size_t digits(size_t p) const {
    if (p >= n_ || !is_digit(s_[p])) return std::string::npos;
    while (true) {
      while (p < n_ && is_digit(s_[p])) ++p;
      if (p + 1 < n_ && s_[p] == '_' && is_digit(s_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }

  static std::string without_underscores(std::string_view t) {
    std::string r;
    for (char c : t) {
      if (c != '_') r += c;
    }
    return r;
  }

  size_t number(size_t p) {
    if (!is_digit(s_[p])) return std::string::npos;
    const auto pos32 = static_cast<uint32_t>(p);
    // Float first (not directly after a '.').
    if (p == 0 || s_[p - 1] != '.') {
      const size_t int_end = digits(p);
      size_t q = int_end;
      bool is_float = false;
      size_t frac_end = std::string::npos;
      if (q < n_ && s_[q] == '.') frac_end = digits(q + 1);
      size_t exp_from = frac_end != std::string::npos ? frac_end : int_end;
      if (exp_from < n_ && (s_[exp_from] == 'e' || s_[exp_from] == 'E')) {
        size_t r = exp_from + 1;
        if (r < n_ && (s_[r] == '+' || s_[r] == '-')) ++r;
        const size_t e = digits(r);
        if (e != std::string::npos) {
          q = e;
          is_float = true;
        }
      }
      if (!is_float && frac_end != std::string::npos) {
        q = frac_end;
        is_float = true;
      }
      if (is_float) {
        const std::string text = without_underscores(std::string_view(s_).substr(p, q - p));
        Token t;
        t.type = Tok::Float;
        t.text = text;
        t.fval = std::strtod(text.c_str(), nullptr);
        t.pos = pos32;
        out_.push_back(std::move(t));
        return q;
      }
    }
    // Integer: 0b / 0o / 0x prefixes, decimal, or zeros.
    int base = 10;
    size_t q = p;
    auto run = [&](size_t from, auto valid) {
      // (_?[valid])+
      size_t r = from;
      while (true) {
        size_t t = r;
        if (t < n_ && s_[t] == '_') ++t;
        if (t < n_ && valid(s_[t])) {
          r = t + 1;
        } else {
          return r;
        }
      }
    };
    auto bin = [](char c) { return c == '0' || c == '1'; };
    auto oct = [](char c) { return c >= '0' && c <= '7'; };
    auto hex = [](char c) { return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'f'); };
    size_t body = p;
    if (s_[p] == '0' && p + 1 < n_ && (s_[p + 1] | 32) == 'b' && run(p + 2, bin) > p + 2) {
      base = 2, body = p + 2, q = run(p + 2, bin);
    } else if (s_[p] == '0' && p + 1 < n_ && (s_[p + 1] | 32) == 'o' && run(p + 2, oct) > p + 2) {
      base = 8, body = p + 2, q = run(p + 2, oct);
    } else if (s_[p] == '0' && p + 1 < n_ && (s_[p + 1] | 32) == 'x' && run(p + 2, hex) > p + 2) {
      base = 16, body = p + 2, q = run(p + 2, hex);
    } else if (s_[p] != '0') {
      q = run(p + 1, is_digit);
    } else {
      q = run(p + 1, [](char c) { return c == '0'; });
    }
    const std::string text = without_underscores(std::string_view(s_).substr(body, q - body));
    uint64_t v = 0;
    for (char c : text) {
      const int d = is_digit(c) ? c - '0' : (c | 32) - 'a' + 10;
      if (__builtin_mul_overflow(v, static_cast<uint64_t>(base), &v) ||
          __builtin_add_overflow(v, static_cast<uint64_t>(d), &v) ||
          v > static_cast<uint64_t>(INT64_MAX)) {
        syntax(pos32, "integer literal too large");
      }
    }
    Token t;
    t.type = Tok::Int;
    t.text = s_.substr(p, q - p);
    t.ival = static_cast<int64_t>(v);
    t.pos = pos32;
    out_.push_back(std::move(t));
    return q;
  }

  size_t name(size_t p) {
    size_t q = p;
    while (q < n_) {
      const auto b = static_cast<unsigned char>(s_[q]);
      if (b < 0x80) {
        if (b == '_' || is_digit(static_cast<char>(b)) || ((b | 32) >= 'a' && (b | 32) <= 'z')) {
          ++q;
          continue;
        }
        break;
      }
      size_t r = q;
      const char32_t c = utf8_next(s_, r);
      if (!py_isalnum(c)) break;
      q = r;
    }
    if (q == p) return std::string::npos;
    size_t first = p;
    if (py_isdigit(utf8_next(s_, first)))
      syntax(static_cast<uint32_t>(p), "Invalid character in identifier");
    push(Tok::Name, s_.substr(p, q - p), static_cast<uint32_t>(p));
    return q;
  }

  size_t string(size_t p) {
    const char quote = s_[p];
    size_t q = p + 1;
    while (q < n_ && s_[q] != quote) {
      if (s_[q] == '\\') {
        if (q + 1 >= n_) return std::string::npos;
        q += 2;
      } else {
        ++q;
      }
    }
    if (q >= n_) return std::string::npos;
    push(Tok::String, unescape(std::string_view(s_).substr(p + 1, q - p - 1), p),
         static_cast<uint32_t>(p));
    return q + 1;
  }

  // Python's .encode("ascii", "backslashreplace").decode("unicode-escape").
  static std::string unescape(std::string_view raw, size_t pos) {
    std::string out;
    const auto pos32 = static_cast<uint32_t>(pos);
    auto hexval = [&](size_t from, int count, const char* what) -> char32_t {
      char32_t v = 0;
      for (int k = 0; k < count; ++k) {
        const size_t at = from + static_cast<size_t>(k);
        if (at >= raw.size()) syntax(pos32, fmt::format("truncated {} escape", what));
        const char c = raw[at];
        int d;
        if (is_digit(c)) {
          d = c - '0';
        } else if ((c | 32) >= 'a' && (c | 32) <= 'f') {
          d = (c | 32) - 'a' + 10;
        } else {
          syntax(pos32, fmt::format("truncated {} escape", what));
        }
        v = v * 16 + static_cast<char32_t>(d);
      }
      return v;
    };
    auto put = [&](char32_t c) { utf8_append(out, (c >= 0xD800 && c <= 0xDFFF) ? 0xFFFD : c); };
    for (size_t i = 0; i < raw.size();) {
      if (raw[i] != '\\') {
        size_t j = i;
        utf8_next(raw, j);
        out.append(raw.substr(i, j - i));
        i = j;
        continue;
      }
      if (i + 1 >= raw.size()) syntax(pos32, "\\ at end of string");
      const auto n = static_cast<unsigned char>(raw[i + 1]);
      if (n >= 0x80) {
        // The escape applies to the backslashreplace text of the character.
        size_t j = i + 1;
        const char32_t c = utf8_next(raw, j);
        out += '\\';
        out += c <= 0xFF     ? fmt::format("x{:02x}", static_cast<unsigned>(c))
               : c <= 0xFFFF ? fmt::format("u{:04x}", static_cast<unsigned>(c))
                             : fmt::format("U{:08x}", static_cast<unsigned>(c));
        i = j;
        continue;
      }
      i += 2;
      switch (n) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x':
          put(hexval(i, 2, "\\xXX"));
          i += 2;
          break;
        case 'u':
          put(hexval(i, 4, "\\uXXXX"));
          i += 4;
          break;
        case 'U': {
          const char32_t c = hexval(i, 8, "\\UXXXXXXXX");
          if (c > 0x10FFFF) syntax(pos32, "illegal Unicode character");
          put(c);
          i += 8;
          break;
        }
        case 'N': syntax(pos32, "\\N{...} escapes are not supported");
        default:
          if (n >= '0' && n <= '7') {
            char32_t v = n - '0';
            for (int k = 0; k < 2 && i < raw.size() && raw[i] >= '0' && raw[i] <= '7'; ++k, ++i) {
              v = v * 8 + static_cast<char32_t>(raw[i] - '0');
            }
            put(v);
          } else {
            out += '\\';
            out += static_cast<char>(n);
          }
      }
    }
    return out;
  }

  size_t op(size_t p, std::vector<char>& balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    const auto pos32 = static_cast<uint32_t>(p);
    for (std::string_view t : kTwo) {
      if (starts(p, t)) {
        push(Tok::Op, std::string(t), pos32);
        return p + 2;
      }
    }
    const char c = s_[p];
    static constexpr std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      size_t q = p;
      const char32_t cp = utf8_next(s_, q);
      std::string ch;
      utf8_append(ch, cp);
      syntax(pos32, fmt::format("unexpected char '{}' at {}", ch, p));
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) syntax(pos32, fmt::format("unexpected '{}'", c));
      const char expected = balance.back();
      balance.pop_back();
      if (expected != c) syntax(pos32, fmt::format("unexpected '{}', expected '{}'", c, expected));
    }
    push(Tok::Op, std::string(1, c), pos32);
    return p + 1;
  }

  const std::string& s_;
  const size_t n_;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(source).run(); }

}  // namespace ollmlx::tmpl
