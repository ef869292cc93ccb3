// Writes JSON byte-for-byte as Go's json.Marshal does (HTML-safe escaping, Go float format), so
// responses match Ollama's, and provides Go's %q quoting used inside error messages.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "api/go_json.h"
#include "api/utf8.h"

namespace ollmlx::api {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Go's unicode.IsPrint for non-ASCII runes, approximated: separators other than the ASCII
// space, C1 controls, format characters, private use and noncharacters are not printable.
bool is_print(uint32_t r) {
  if (r < 0x80) return r >= 0x20 && r != 0x7F;
  if (r < 0xA1 || r == 0xAD) return false;
  if (r == 0x1680 || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F)) return false;
  if ((r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF) return false;
  if (r >= 0xE000 && r <= 0xF8FF) return false;
  if ((r >= 0xFFF9 && r <= 0xFFFB) || r == 0xFFFE || r == 0xFFFF) return false;
  if (r >= 0xF0000) return false;
  return true;
}

void append_hex(std::string& out, uint32_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) out += kHex[(v >> (4 * i)) & 0xF];
}

}  // namespace

void append_go_string(std::string& out, std::string_view s) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      switch (b) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (b < 0x20 || b == '<' || b == '>' || b == '&') {
            out += "\\u00";
            append_hex(out, b, 2);
          } else {
            out += static_cast<char>(b);
          }
      }
      ++i;
      continue;
    }
    const Rune r = utf8_decode(s.substr(i));
    if (!r.valid) {
      out += "\\ufffd";
    } else if (r.code_point == 0x2028 || r.code_point == 0x2029) {
      out += "\\u202";
      out += kHex[r.code_point & 0xF];
    } else {
      out.append(s.substr(i, r.size));
    }
    i += r.size;
  }
  out += '"';
}

void append_go_float(std::string& out, double value) {
  if (!std::isfinite(value)) {  // Go refuses to marshal these; never sent by a sane engine
    out += "null";
    return;
  }
  char buf[64];
  const double a = std::fabs(value);
  const bool exp_form = a != 0 && (a < 1e-6 || a >= 1e21);
  const auto r = std::to_chars(buf, buf + sizeof buf, value,
                               exp_form ? std::chars_format::scientific
                                        : std::chars_format::fixed);
  std::string s(buf, r.ptr);
  if (exp_form) {
    // Go writes e-7, not e-07.
    const size_t n = s.size();
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
  }
  out += s;
}

void append_go_json(std::string& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
    case Json::value_t::binary:
      out += "null";
      break;
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case Json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      break;
    case Json::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      break;
    case Json::value_t::number_float:
      append_go_float(out, v.get<double>());
      break;
    case Json::value_t::string:
      append_go_string(out, v.get_ref<const std::string&>());
      break;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        append_go_json(out, e);
      }
      out += ']';
      break;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.items()) {
        if (!first) out += ',';
        first = false;
        append_go_string(out, k);
        out += ':';
        append_go_json(out, e);
      }
      out += '}';
      break;
    }
  }
}

std::string go_json(const Json& value) {
  std::string out;
  append_go_json(out, value);
  return out;
}

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    const Rune r = utf8_decode(s.substr(i));
    if (!r.valid) {
      out += "\\x";
      append_hex(out, static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    const uint32_t c = r.code_point;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (is_print(c)) {
      out.append(s.substr(i, r.size));
    } else {
      switch (c) {
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += "\\x";
            append_hex(out, c, 2);
          } else if (c < 0x10000) {
            out += "\\u";
            append_hex(out, c, 4);
          } else {
            out += "\\U";
            append_hex(out, c, 8);
          }
      }
    }
    i += r.size;
  }
  out += '"';
  return out;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const Rune r = utf8_decode(s.substr(i));
    if (r.valid) out.append(s.substr(i, r.size));
    else out += "\xEF\xBF\xBD";
    i += r.size;
  }
  return out;
}

Json sorted_keys(const Json& value) {
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& e : value) out.push_back(sorted_keys(e));
    return out;
  }
  if (!value.is_object()) return value;
  std::vector<std::string> keys;
  for (const auto& [k, v] : value.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  Json out = Json::object();
  for (const auto& k : keys) out[k] = sorted_keys(value.at(k));
  return out;
}

}  // namespace ollmlx::api
