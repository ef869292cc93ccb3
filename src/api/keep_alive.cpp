// Parses keep_alive exactly as Ollama's api.Duration.UnmarshalJSON: clients send numbers,
// duration strings and negative values, and rely on the "time: ..." errors for bad input.
#include "api/keep_alive.h"

#include <cmath>
#include <limits>

namespace ollmlx::api {
namespace {

constexpr uint64_t kMaxDuration = uint64_t{1} << 63;

// Go's time.quote: ASCII kept (with " and \ escaped), every other byte as \xNN.
std::string time_quote(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || c < ' ') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += ch;
    }
  }
  return out + "\"";
}

[[noreturn]] void invalid(std::string_view orig) {
  throw ApiError(400, "time: invalid duration " + time_quote(orig));
}

uint64_t unit_nanos(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") return 1000;
  if (u == "ms") return 1000000;
  if (u == "s") return 1000000000;
  if (u == "m") return 60ull * 1000000000;
  if (u == "h") return 3600ull * 1000000000;
  return 0;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::chrono::nanoseconds parse_go_duration(std::string_view s) {
  const std::string_view orig = s;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) invalid(orig);
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) invalid(orig);
    // Integer part.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (v > kMaxDuration / 10) invalid(orig);  // Go's leadingInt overflow
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kMaxDuration) invalid(orig);
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // Fraction.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && is_digit(s[j]); ++j) {
        if (overflow) continue;
        if (f > (kMaxDuration - 1) / 10) {
          overflow = true;
          continue;
        }
        const uint64_t y = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (y > kMaxDuration) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) invalid(orig);
    // Unit.
    size_t k = 0;
    while (k < s.size() && s[k] != '.' && !is_digit(s[k])) ++k;
    if (k == 0) throw ApiError(400, "time: missing unit in duration " + time_quote(orig));
    const std::string_view u = s.substr(0, k);
    s.remove_prefix(k);
    const uint64_t unit = unit_nanos(u);
    if (unit == 0) {
      throw ApiError(400, "time: unknown unit " + time_quote(u) + " in duration " +
                              time_quote(orig));
    }
    if (v > kMaxDuration / unit) invalid(orig);
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) *
                                 (static_cast<double>(unit) / scale));
      if (v > kMaxDuration) invalid(orig);
    }
    total += v;
    if (total > kMaxDuration) invalid(orig);
  }
  if (neg) {
    // -(1<<63) is representable.
    if (total == kMaxDuration) return std::chrono::nanoseconds(std::numeric_limits<int64_t>::min());
    return std::chrono::nanoseconds(-static_cast<int64_t>(total));
  }
  if (total > kMaxDuration - 1) invalid(orig);
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

KeepAlive parse_keep_alive(const Json& value) {
  KeepAlive ka;
  if (value.is_number()) {
    const double secs = value.get<double>();
    if (secs < 0) {
      ka.forever = true;
      return ka;
    }
    const double ns = secs * 1e9;
    if (ns >= 9.2e18) {  // past Go's Duration range: as good as forever
      ka.forever = true;
      return ka;
    }
    ka.duration = std::chrono::nanoseconds(static_cast<int64_t>(ns));
    return ka;
  }
  if (value.is_string()) {
    const auto d = parse_go_duration(value.get_ref<const std::string&>());
    if (d.count() < 0) ka.forever = true;
    else ka.duration = d;
    return ka;
  }
  const char* type = value.is_boolean() ? "bool"
                     : value.is_array() ? "[]interface {}"
                                        : "map[string]interface {}";
  throw ApiError(400, std::string("Unsupported type: '") + type + "'");
}

}  // namespace ollmlx::api
