#include "cli/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>

#include "api/utf8.h"

namespace ollmlx::cli {

Instant Instant::now() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  Instant t;
  t.sec = ns / 1000000000;
  t.nsec = static_cast<int32_t>(ns % 1000000000);
  return t;
}

double seconds_between(const Instant& a, const Instant& b) {
  return static_cast<double>(b.sec - a.sec) + (b.nsec - a.nsec) / 1e9;
}

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::optional<Instant> parse_rfc3339(std::string_view s) {
  int year, mon, day, hh, mm, ss;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mon) ||
      s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, hh) || s[13] != ':' || !digits(s, 14, 2, mm) || s[16] != ':' ||
      !digits(s, 17, 2, ss)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  size_t pos = 19;
  int64_t nsec = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) nsec = nsec * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 9; ++i) nsec *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  Instant t;
  t.sec = days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)) * 86400 +
          hh * 3600 + mm * 60 + ss - offset;
  t.nsec = static_cast<int32_t>(nsec);
  return t;
}

std::string human_bytes(int64_t b) {
  double value = 0;
  const char* unit = "";
  if (b >= 1000LL * 1000 * 1000 * 1000) {
    value = static_cast<double>(b) / 1e12;
    unit = "TB";
  } else if (b >= 1000LL * 1000 * 1000) {
    value = static_cast<double>(b) / 1e9;
    unit = "GB";
  } else if (b >= 1000LL * 1000) {
    value = static_cast<double>(b) / 1e6;
    unit = "MB";
  } else if (b >= 1000) {
    value = static_cast<double>(b) / 1e3;
    unit = "KB";
  } else {
    return fmt::format("{} B", b);
  }
  if (value >= 10) return fmt::format("{} {}", static_cast<int64_t>(value), unit);
  if (value != std::trunc(value)) return fmt::format("{:.1f} {}", value, unit);
  return fmt::format("{} {}", static_cast<int64_t>(value), unit);
}

std::string human_duration(double d) {
  const int64_t seconds = static_cast<int64_t>(d);
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return fmt::format("{} seconds", seconds);
  const int64_t minutes = static_cast<int64_t>(d / 60);
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return fmt::format("{} minutes", minutes);
  const int64_t hours = static_cast<int64_t>(std::round(d / 3600));
  if (hours == 1) return "About an hour";
  if (hours < 48) return fmt::format("{} hours", hours);
  if (hours < 24 * 7 * 2) return fmt::format("{} days", hours / 24);
  if (hours < 24 * 30 * 2) return fmt::format("{} weeks", hours / 24 / 7);
  if (hours < 24 * 365 * 2) return fmt::format("{} months", hours / 24 / 30);
  return fmt::format("{} years", hours / 24 / 365);
}

std::string human_time(const Instant& t, const std::string& zero_value, const Instant& now) {
  if (t.is_zero()) return zero_value;
  // Go's time.Since saturates at about +-292 years (int64 nanoseconds).
  constexpr double kMaxDuration = 9223372036.854775807;
  double delta = seconds_between(t, now);
  delta = std::clamp(delta, -kMaxDuration, kMaxDuration);
  if (static_cast<int64_t>(delta / 3600) / 24 / 365 < -20) return "Forever";
  if (delta < 0) return human_duration(-delta) + " from now";
  return human_duration(delta) + " ago";
}

namespace {

// Go's fmtFrac: the `prec` low digits of v as a fraction with trailing zeros (and a bare '.')
// removed; returns v with those digits dropped.
uint64_t append_frac(std::string& out, uint64_t v, int prec) {
  std::string frac;
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const int digit = static_cast<int>(v % 10);
    print = print || digit != 0;
    if (print) frac.insert(frac.begin(), static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) out = "." + frac + out;
  return v;
}

}  // namespace

std::string go_duration(int64_t d) {
  if (d == 0) return "0s";
  const bool neg = d < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-(d + 1)) + 1 : static_cast<uint64_t>(d);
  std::string out;
  if (u < 1000000000ULL) {
    // Less than a second: ns, µs or ms with a fraction.
    int prec = 0;
    if (u < 1000) {
      out = std::to_string(u) + "ns";
      if (neg) out.insert(out.begin(), '-');
      return out;
    } else if (u < 1000000) {
      prec = 3;
      out = "µs";
    } else {
      prec = 6;
      out = "ms";
    }
    u = append_frac(out, u, prec);
    out = std::to_string(u) + out;
  } else {
    out = "s";
    u = append_frac(out, u, 9);
    out = std::to_string(u % 60) + out;
    u /= 60;
    if (u > 0) {
      out = std::to_string(u % 60) + "m" + out;
      u /= 60;
      if (u > 0) out = std::to_string(u) + "h" + out;
    }
  }
  if (neg) out.insert(out.begin(), '-');
  return out;
}

namespace {

int rune_width(uint32_t r) {
  if (r == 0 || r < 32 || (r >= 0x7f && r < 0xa0)) return 0;
  // Combining marks and zero-width characters.
  if ((r >= 0x300 && r <= 0x36f) || (r >= 0x483 && r <= 0x489) || (r >= 0x591 && r <= 0x5bd) ||
      (r >= 0x610 && r <= 0x61a) || (r >= 0x64b && r <= 0x65f) || (r >= 0x1ab0 && r <= 0x1aff) ||
      (r >= 0x1dc0 && r <= 0x1dff) || (r >= 0x200b && r <= 0x200f) || (r >= 0x20d0 && r <= 0x20ff) ||
      (r >= 0xfe00 && r <= 0xfe0f) || (r >= 0xfe20 && r <= 0xfe2f) || r == 0xfeff ||
      (r >= 0xe0100 && r <= 0xe01ef)) {
    return 0;
  }
  // East Asian wide and fullwidth, emoji.
  if ((r >= 0x1100 && r <= 0x115f) || (r >= 0x2e80 && r <= 0x303e) || (r >= 0x3041 && r <= 0x33ff) ||
      (r >= 0x3400 && r <= 0x4dbf) || (r >= 0x4e00 && r <= 0x9fff) || (r >= 0xa000 && r <= 0xa4cf) ||
      (r >= 0xac00 && r <= 0xd7a3) || (r >= 0xf900 && r <= 0xfaff) || (r >= 0xfe30 && r <= 0xfe4f) ||
      (r >= 0xff00 && r <= 0xff60) || (r >= 0xffe0 && r <= 0xffe6) || (r >= 0x1f300 && r <= 0x1f64f) ||
      (r >= 0x1f900 && r <= 0x1f9ff) || (r >= 0x1f680 && r <= 0x1f6ff) || (r >= 0x20000 && r <= 0x3fffd)) {
    return 2;
  }
  return 1;
}

}  // namespace

int display_width(std::string_view s) {
  int w = 0;
  while (!s.empty()) {
    const api::Rune r = api::utf8_decode(s);
    w += rune_width(r.code_point);
    s.remove_prefix(r.size);
  }
  return w;
}

std::string pad_right(const std::string& s, int width) {
  const int w = display_width(s);
  return w >= width ? s : s + std::string(static_cast<size_t>(width - w), ' ');
}

std::vector<std::string> wrap_words(const std::string& s, int limit) {
  // Words split on single spaces (newlines count as spaces), as strings.Split does.
  std::vector<std::string> words;
  {
    std::string cur;
    for (const char c : s) {
      if (c == ' ' || c == '\n') {
        words.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    words.push_back(cur);
  }
  for (const auto& w : words) limit = std::max(limit, display_width(w));
  const size_t n = words.size();
  // length[i][j]: columns of words i..j joined by single spaces.
  std::vector<std::vector<int64_t>> length(n, std::vector<int64_t>(n, 0));
  for (size_t i = 0; i < n; ++i) {
    length[i][i] = display_width(words[i]);
    for (size_t j = i + 1; j < n; ++j) length[i][j] = length[i][j - 1] + 1 + display_width(words[j]);
  }
  constexpr int64_t kPenalty = 100000;
  std::vector<size_t> next_break(n, n);
  std::vector<int64_t> cost(n, INT32_MAX);
  for (size_t k = n; k-- > 0;) {
    if (length[k][n - 1] <= limit) {
      cost[k] = 0;
      next_break[k] = n;
      continue;
    }
    for (size_t j = k + 1; j < n; ++j) {
      const int64_t d = limit - length[k][j - 1];
      int64_t c = d * d + cost[j];
      if (length[k][j - 1] > limit) c += kPenalty;
      if (c < cost[k]) {
        cost[k] = c;
        next_break[k] = j;
      }
    }
  }
  std::vector<std::string> lines;
  for (size_t i = 0; i < n;) {
    std::string line;
    for (size_t j = i; j < next_break[i]; ++j) {
      if (j > i) line += ' ';
      line += words[j];
    }
    lines.push_back(line);
    i = next_break[i];
  }
  return lines;
}

namespace {

// One cell as tablewriter lays it out: its lines (reflowed into one paragraph and wrapped when
// wider than the limit) and its width.
std::vector<std::string> cell_lines(const std::string& text, int max_col_width, int& width) {
  std::vector<std::string> raw;
  {
    size_t start = 0;
    for (;;) {
      const size_t nl = text.find('\n', start);
      raw.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  int max_width = 0;
  for (const auto& l : raw) max_width = std::max(max_width, display_width(l));
  max_width = std::min(max_width, max_col_width);
  std::string para;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (i) para += ' ';
    para += raw[i];
  }
  std::vector<std::string> lines = wrap_words(para, max_width);
  width = max_width;
  for (const auto& l : lines) width = std::max(width, display_width(l));
  return lines;
}

}  // namespace

std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows, int max_col_width) {
  size_t cols = header.size();
  for (const auto& r : rows) cols = std::max(cols, r.size());
  std::vector<int> widths(cols, 0);
  auto lay_out = [&](const std::vector<std::string>& row) {
    std::vector<std::vector<std::string>> cells(cols);
    for (size_t c = 0; c < cols; ++c) {
      int w = 0;
      cells[c] = cell_lines(c < row.size() ? row[c] : "", max_col_width, w);
      widths[c] = std::max(widths[c], w);
    }
    return cells;
  };
  std::vector<std::vector<std::vector<std::string>>> laid;
  std::vector<std::vector<std::string>> head;
  if (!header.empty()) head = lay_out(header);
  for (const auto& r : rows) laid.push_back(lay_out(r));
  std::string out;
  auto emit = [&](const std::vector<std::vector<std::string>>& cells) {
    size_t height = 0;
    for (const auto& c : cells) height = std::max(height, c.size());
    for (size_t line = 0; line < height; ++line) {
      for (size_t c = 0; c < cols; ++c) {
        out += pad_right(line < cells[c].size() ? cells[c][line] : "", widths[c]);
        out += "    ";
      }
      out += "\n";
    }
  };
  if (!header.empty()) emit(head);
  for (const auto& cells : laid) emit(cells);
  return out;
}

std::string processor_string(int64_t size, int64_t size_vram) {
  if (size_vram == 0) return "100% CPU";
  if (size_vram == size) return "100% GPU";
  if (size_vram > size || size == 0) return "Unknown";
  const double cpu = std::round(static_cast<double>(size - size_vram) / static_cast<double>(size) * 100);
  return fmt::format("{}%/{}% CPU/GPU", static_cast<int>(cpu), static_cast<int>(100 - cpu));
}

std::string human_number(uint64_t b) {
  if (b >= 1000000000ULL) {
    const double n = static_cast<double>(b) / 1e9;
    return n == std::floor(n) ? fmt::format("{:.0f}B", n) : fmt::format("{:.1f}B", n);
  }
  if (b >= 1000000ULL) {
    const double n = static_cast<double>(b) / 1e6;
    return n == std::floor(n) ? fmt::format("{:.0f}M", n) : fmt::format("{:.2f}M", n);
  }
  if (b >= 1000ULL) return fmt::format("{:.0f}K", static_cast<double>(b) / 1e3);
  return std::to_string(b);
}

std::string format_float_plain(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[512];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

}  // namespace ollmlx::cli
