// Python string formatting (see strformat.h): printf-style `%` and str.format with the
// format-spec mini-language, for the value types templates have.
#include "template/strformat.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "template/failure.h"
#include "template/interp.h"
#include "template/pyformat.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

namespace {

std::string digits_of(uint64_t v, int base, bool upper) {
  if (v == 0) return "0";
  const char* d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string s;
  while (v) {
    s.insert(s.begin(), d[v % static_cast<uint64_t>(base)]);
    v /= static_cast<uint64_t>(base);
  }
  return s;
}

uint64_t magnitude(int64_t v) {
  return v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
}

size_t cp_len(const std::string& s) { return utf8_length(s); }

std::string repeat(const std::string& unit, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += unit;
  return out;
}

// Pads `body` (with a sign/prefix kept in front for zero padding) to `width` code points.
std::string pad(const std::string& sign, const std::string& body, int64_t width, char align,
                const std::string& fill) {
  const size_t len = cp_len(sign) + cp_len(body);
  if (width <= 0 || static_cast<size_t>(width) <= len) return sign + body;
  const size_t n = static_cast<size_t>(width) - len;
  switch (align) {
    case '<': return sign + body + repeat(fill, n);
    case '^': return repeat(fill, n / 2) + sign + body + repeat(fill, n - n / 2);
    case '=': return sign + repeat(fill, n) + body;
    default: return repeat(fill, n) + sign + body;
  }
}

std::string c_float(double v, char conv, int precision, bool alt) {
  char fmtbuf[16];
  std::snprintf(fmtbuf, sizeof(fmtbuf), "%%%s.*%c", alt ? "#" : "", conv);
  const int n = std::snprintf(nullptr, 0, fmtbuf, precision, v);
  std::string out(static_cast<size_t>(std::max(n, 0)), '\0');
  std::snprintf(out.data(), out.size() + 1, fmtbuf, precision, v);
  return out;
}

std::string group_digits(const std::string& digits, char sep) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out += sep;
    out += digits[i];
  }
  return out;
}

int64_t arg_int_value(const Value& v) {
  if (!v.is_integral()) fail(ErrorKind::Type, "* wants int");
  return v.as_int();
}

}  // namespace

std::string percent_format(Interp& in, const std::string& fmt, const Value& args) {
  std::vector<Value> positional;
  const DictData* mapping = nullptr;
  if (args.is_sequence_kind(ListKind::Tuple)) {
    positional = args.items();
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args.dict();
  }
  size_t argi = 0;
  std::string out;
  auto next_arg = [&]() -> Value {
    if (argi >= positional.size()) fail(ErrorKind::Type, "not enough arguments for format string");
    return positional[argi++];
  };
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    const size_t start = i;
    if (++i >= fmt.size()) fail(ErrorKind::Value, "incomplete format");
    std::optional<Value> keyed;
    if (fmt[i] == '(') {
      if (!mapping) fail(ErrorKind::Type, "format requires a mapping");
      int depth = 1;
      const size_t kstart = ++i;
      while (i < fmt.size() && depth) {
        if (fmt[i] == '(') ++depth;
        if (fmt[i] == ')') --depth;
        ++i;
      }
      if (depth) fail(ErrorKind::Value, "incomplete format key");
      const std::string key = fmt.substr(kstart, i - kstart - 1);
      const Value* v = mapping->find(std::string_view(key));
      if (!v) failf(ErrorKind::Value, "KeyError: {}", str_repr(key));
      keyed = *v;
    }
    bool left = false, plus = false, space = false, alt = false, zero = false;
    for (; i < fmt.size(); ++i) {
      const char c = fmt[i];
      if (c == '-')
        left = true;
      else if (c == '+')
        plus = true;
      else if (c == ' ')
        space = true;
      else if (c == '#')
        alt = true;
      else if (c == '0')
        zero = true;
      else
        break;
    }
    int64_t width = 0;
    if (i < fmt.size() && fmt[i] == '*') {
      width = arg_int_value(next_arg());
      if (width < 0) left = true, width = -width;
      ++i;
    } else {
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        width = std::min<int64_t>(width * 10 + (fmt[i++] - '0'), 1 << 24);
      }
    }
    int64_t precision = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      precision = 0;
      if (i < fmt.size() && fmt[i] == '*') {
        precision = std::max<int64_t>(0, arg_int_value(next_arg()));
        ++i;
      } else {
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
          precision = std::min<int64_t>(precision * 10 + (fmt[i++] - '0'), 1 << 24);
        }
      }
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) fail(ErrorKind::Value, "incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    in.check_size(static_cast<size_t>(width) +
                  static_cast<size_t>(std::max<int64_t>(precision, 0)));
    const Value v = keyed ? *keyed : next_arg();
    const std::string sign_char = plus ? "+" : space ? " " : "";
    const char align = left ? '<' : '>';
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = conv == 's' ? to_str(v) : repr(v);
        if (precision >= 0) {
          const std::u32string u = utf8_decode(s);
          if (static_cast<size_t>(precision) < u.size())
            s = utf8_encode(u.substr(0, static_cast<size_t>(precision)));
        }
        out += pad("", s, width, align, " ");
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        int64_t n = 0;
        if (v.is_integral()) {
          n = v.as_int();
        } else if (v.kind() == Kind::Float && (conv == 'd' || conv == 'i' || conv == 'u')) {
          const double d = v.as_float();
          if (!std::isfinite(d) || std::fabs(d) >= 9.2e18)
            fail(ErrorKind::Value, "cannot convert float to integer");
          n = static_cast<int64_t>(std::trunc(d));
        } else {
          if (v.is_undefined()) fail_undefined(v);
          failf(ErrorKind::Type, "%{} format: {} is required, not {}", conv,
                (conv == 'x' || conv == 'X' || conv == 'o') ? "an integer" : "a real number",
                type_name(v));
        }
        const int base = (conv == 'x' || conv == 'X') ? 16 : conv == 'o' ? 8 : 10;
        std::string digits = digits_of(magnitude(n), base, conv == 'X');
        if (precision > static_cast<int64_t>(digits.size())) {
          digits.insert(0, static_cast<size_t>(precision) - digits.size(), '0');
        }
        std::string prefix = n < 0 ? "-" : sign_char;
        if (alt && base == 16) prefix += conv == 'X' ? "0X" : "0x";
        if (alt && base == 8) prefix += "0o";
        out += (zero && !left) ? pad(prefix, digits, width, '=', "0")
                               : pad("", prefix + digits, width, align, " ");
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!v.is_number()) {
          if (v.is_undefined()) fail_undefined(v);
          failf(ErrorKind::Type, "must be real number, not {}", type_name(v));
        }
        const double d = v.to_double();
        std::string body =
            c_float(std::fabs(d), conv, precision < 0 ? 6 : static_cast<int>(precision), alt);
        const std::string sign = std::signbit(d) && !std::isnan(d) ? "-" : sign_char;
        out += (zero && !left && std::isfinite(d)) ? pad(sign, body, width, '=', "0")
                                                   : pad("", sign + body, width, align, " ");
        break;
      }
      case 'c': {
        std::string ch;
        if (v.is_integral() && v.as_int() >= 0 && v.as_int() <= 0x10FFFF) {
          utf8_append(ch, static_cast<char32_t>(v.as_int()));
        } else if (v.is_str() && utf8_length(v.str()) == 1) {
          ch = v.str();
        } else {
          fail(ErrorKind::Type, "%c requires an int or a unicode character");
        }
        out += pad("", ch, width, align, " ");
        break;
      }
      default:
        failf(ErrorKind::Value, "unsupported format character '{}' (0x{:x}) at index {}", conv,
              static_cast<unsigned char>(conv), i);
    }
    (void)start;
    in.check_size(out.size());
  }
  // CPython skips this check for any argument with __getitem__ (lists too), not just dicts.
  const bool subscriptable =
      args.is_dict() || (args.is_list() && !args.is_sequence_kind(ListKind::Tuple));
  if (!subscriptable && argi < positional.size()) {
    fail(ErrorKind::Type, "not all arguments converted during string formatting");
  }
  return out;
}

std::string format_value(const Value& v, const std::string& spec) {
  if (spec.empty()) return to_str(v);
  // [[fill]align][sign][z][#][0][width][grouping][.precision][type]
  const std::u32string s = utf8_decode(spec);
  size_t i = 0;
  std::string fill = " ";
  char align = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (s.size() >= 2 && is_align(s[1])) {
    fill.clear();
    utf8_append(fill, s[0]);
    align = static_cast<char>(s[1]);
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    align = static_cast<char>(s[0]);
    i = 1;
  }
  char sign = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sign = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == 'z') ++i;
  bool alt = false;
  if (i < s.size() && s[i] == '#') alt = true, ++i;
  if (i < s.size() && s[i] == '0') {
    if (!align) {
      fill.assign(1, '0');
      align = '=';
    }
    ++i;
  }
  int64_t width = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    width = std::min<int64_t>(width * 10 + (s[i++] - '0'), 1 << 24);
  char group = 0;
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) group = static_cast<char>(s[i++]);
  int64_t precision = -1;
  if (i < s.size() && s[i] == '.') {
    ++i;
    precision = 0;
    if (i >= s.size() || s[i] < '0' || s[i] > '9')
      fail(ErrorKind::Value, "Format specifier missing precision");
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      precision = std::min<int64_t>(precision * 10 + (s[i++] - '0'), 1 << 20);
  }
  char type = 0;
  if (i < s.size()) type = static_cast<char>(s[i++]);
  if (i != s.size()) fail(ErrorKind::Value, "Invalid format specifier");

  if (v.is_str()) {
    if (type && type != 's')
      failf(ErrorKind::Value, "Unknown format code '{}' for object of type 'str'", type);
    if (sign) fail(ErrorKind::Value, "Sign not allowed in string format specifier");
    if (align == '=')
      fail(ErrorKind::Value, "'=' alignment not allowed in string format specifier");
    std::string body = v.str();
    if (precision >= 0) {
      const std::u32string u = utf8_decode(body);
      if (static_cast<size_t>(precision) < u.size())
        body = utf8_encode(u.substr(0, static_cast<size_t>(precision)));
    }
    return pad("", body, width, align ? align : '<', fill);
  }
  if (!v.is_number()) {
    failf(ErrorKind::Type, "unsupported format string passed to {}.__format__", type_name(v));
  }
  const std::string sign_str = sign == '+' ? "+" : sign == ' ' ? " " : "";
  const char num_align = align ? align : '>';
  if (v.is_integral() && (type == 0 || type == 'd' || type == 'n' || type == 'b' || type == 'o' ||
                          type == 'x' || type == 'X' || type == 'c')) {
    const int64_t n = v.as_int();
    if (type == 'c') {
      std::string ch;
      if (n < 0 || n > 0x10FFFF) fail(ErrorKind::Value, "%c arg not in range(0x110000)");
      utf8_append(ch, static_cast<char32_t>(n));
      return pad("", ch, width, align ? align : '<', fill);
    }
    const int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
    std::string digits = digits_of(magnitude(n), base, type == 'X');
    if (group) digits = group_digits(digits, group);
    std::string prefix = n < 0 ? "-" : sign_str;
    if (alt && base != 10)
      prefix += base == 2 ? "0b" : base == 8 ? "0o" : (type == 'X' ? "0X" : "0x");
    return num_align == '=' ? pad(prefix, digits, width, '=', fill)
                            : pad("", prefix + digits, width, num_align, fill);
  }
  const double d = v.to_double();
  std::string body;
  const double a = std::fabs(d);
  switch (type) {
    case 0:
      if (precision < 0) {
        body = float_repr(a);
        if (v.is_integral()) body = std::to_string(magnitude(v.as_int()));
      } else {
        body = c_float(a, 'g', static_cast<int>(std::max<int64_t>(precision, 1)), alt);
        if (std::isfinite(a) && body.find_first_of(".e") == std::string::npos) body += ".0";
      }
      break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': body = c_float(a, type, static_cast<int>(precision < 0 ? 6 : precision), alt); break;
    case 'n': body = c_float(a, 'g', static_cast<int>(precision < 0 ? 6 : precision), alt); break;
    case '%':
      body = c_float(a * 100, 'f', static_cast<int>(precision < 0 ? 6 : precision), alt) + "%";
      break;
    default:
      failf(ErrorKind::Value, "Unknown format code '{}' for object of type '{}'", type,
            type_name(v));
  }
  if (group && std::isfinite(a)) {
    const size_t end = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, end), group) +
           (end == std::string::npos ? "" : body.substr(end));
  }
  const std::string prefix = (std::signbit(d) && !std::isnan(d)) ? "-" : sign_str;
  return num_align == '=' ? pad(prefix, body, width, '=', fill)
                          : pad("", prefix + body, width, num_align, fill);
}

std::string brace_format(Interp& in, const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  bool manual = false, automatic = false;
  auto resolve = [&](const std::string& field) -> Value {
    // arg_name ("." attr | "[" key "]")*
    size_t i = 0;
    while (i < field.size() && field[i] != '.' && field[i] != '[') ++i;
    const std::string name = field.substr(0, i);
    Value v;
    const bool numeric = !name.empty() && std::all_of(name.begin(), name.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
    if (name.empty() || numeric) {
      size_t idx = 0;
      if (name.empty()) {
        if (manual)
          fail(ErrorKind::Value,
               "cannot switch from manual field specification to automatic field numbering");
        automatic = true;
        idx = auto_index++;
      } else {
        if (automatic)
          fail(ErrorKind::Value,
               "cannot switch from automatic field numbering to manual field specification");
        manual = true;
        idx = name.size() > 9 ? SIZE_MAX : std::stoul(name);
      }
      if (idx >= args.pos.size()) {
        failf(ErrorKind::Value, "Replacement index {} out of range for positional args tuple", idx);
      }
      v = args.pos[idx];
    } else {
      bool found = false;
      for (const auto& [k, val] : args.kw) {
        if (k == name) v = val, found = true;
      }
      if (!found) failf(ErrorKind::Value, "KeyError: {}", str_repr(name));
    }
    while (i < field.size()) {
      if (field[i] == '.') {
        size_t j = ++i;
        while (j < field.size() && field[j] != '.' && field[j] != '[') ++j;
        v = in.getattr(v, field.substr(i, j - i));
        i = j;
      } else {
        const size_t close = field.find(']', i);
        if (close == std::string::npos) fail(ErrorKind::Value, "Missing ']' in format string");
        const std::string key = field.substr(i + 1, close - i - 1);
        const bool digits =
            !key.empty() && key.size() < 18 &&
            std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
        v = in.getitem(v, digits ? Value::integer(std::stoll(key)) : Value::string(key));
        i = close + 1;
      }
    }
    return v;
  };
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      fail(ErrorKind::Value, "Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    int depth = 1;
    size_t j = i + 1;
    while (j < fmt.size() && depth) {
      if (fmt[j] == '{') ++depth;
      if (fmt[j] == '}') --depth;
      if (depth) ++j;
    }
    if (depth) fail(ErrorKind::Value, "expected '}' before end of string");
    const std::string field = fmt.substr(i + 1, j - i - 1);
    i = j;
    size_t k = 0;
    int bracket = 0;
    while (k < field.size()) {
      if (field[k] == '[') ++bracket;
      if (field[k] == ']') --bracket;
      if (!bracket && (field[k] == '!' || field[k] == ':')) break;
      ++k;
    }
    Value v = resolve(field.substr(0, k));
    std::string spec;
    if (k < field.size() && field[k] == '!') {
      if (k + 1 >= field.size())
        fail(ErrorKind::Value, "end of string while looking for conversion specifier");
      const char conv = field[k + 1];
      if (conv == 'r' || conv == 'a')
        v = Value::string(repr(v));
      else if (conv == 's')
        v = Value::string(to_str(v));
      else
        failf(ErrorKind::Value, "Unknown conversion specifier {}", conv);
      k += 2;
      if (k < field.size() && field[k] != ':')
        fail(ErrorKind::Value, "expected ':' after conversion specifier");
    }
    if (k < field.size() && field[k] == ':') {
      spec = field.substr(k + 1);
      if (spec.find('{') != std::string::npos) spec = brace_format(in, spec, args);
    }
    out += format_value(v, spec);
    in.check_size(out.size());
  }
  return out;
}

}  // namespace ollmlx::tmpl
