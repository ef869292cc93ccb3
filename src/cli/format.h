// Text formatting of the Ollama-style CLI, matching Ollama's `format` package and its tables:
// HumanBytes ("4.7 GB", "13 GB"), human times ("2 days ago", "4 minutes from now", "Forever"),
// Go's time.Duration strings ("1.234s", "20.5ms"), RFC 3339 timestamps as the server sends them,
// terminal display widths, and tablewriter's borderless tables (4-space padding, no header rule,
// words wrapped at 30 columns). Pure functions; the clock is always passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::cli {

// A wall-clock instant as Go's time.Time carries it (seconds since the Unix epoch + nanoseconds).
struct Instant {
  int64_t sec = kZeroSec;
  int32_t nsec = 0;
  // Go's zero time, 0001-01-01T00:00:00Z ("Never" in tables).
  static constexpr int64_t kZeroSec = -62135596800LL;
  bool is_zero() const { return sec == kZeroSec && nsec == 0; }
  static Instant now();
};

// Seconds from `a` to `b` (b - a).
double seconds_between(const Instant& a, const Instant& b);

// RFC 3339 with optional fractional seconds and a "Z" or ±hh:mm offset, as Go's time.Time JSON.
std::optional<Instant> parse_rfc3339(std::string_view s);

// Ollama's format.HumanBytes: decimal units B/KB/MB/GB/TB; >= 10 -> integer; else one decimal
// unless whole ("4.7 GB", "13 GB", "1 GB", "999 B").
std::string human_bytes(int64_t bytes);

// Ollama's humanDuration ("Less than a second", "1 second", "N seconds", "About a minute",
// "N minutes", "About an hour", "N hours", "N days", "N weeks", "N months", "N years").
std::string human_duration(double seconds);

// Ollama's format.HumanTime: `zero_value` for the zero time, "Forever" more than 20 years ahead,
// "<duration> from now" ahead, "<duration> ago" behind.
std::string human_time(const Instant& t, const std::string& zero_value, const Instant& now);

// Go's time.Duration.String() of a duration in nanoseconds: "0s", "250ns", "1.5µs", "20.5ms",
// "1.234567891s", "1m30s", "2h0m0s".
std::string go_duration(int64_t nanoseconds);

// Columns a string takes on a terminal (East Asian wide characters 2, combining marks 0).
int display_width(std::string_view s);

// Pads `s` with spaces on the right to `width` display columns.
std::string pad_right(const std::string& s, int width);

// tablewriter's WrapString: words of `s` broken into lines of at most `limit` columns with the
// minimum-raggedness algorithm; a word wider than the limit gets a line of its own.
std::vector<std::string> wrap_words(const std::string& s, int limit);

// A table the way Ollama's CLI renders it with tablewriter (no borders, no header line, no cell
// spacing, "    " after every cell including the last, left-aligned, cells wider than
// `max_col_width` wrapped at word boundaries). `header` may be empty (no header row). Returns
// the text, one '\n'-terminated line per row.
std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows,
                         int max_col_width = 30);

// `ollama ps` PROCESSOR column from size and size_vram.
std::string processor_string(int64_t size, int64_t size_vram);

// Ollama's HumanNumber: 134520000 -> "134.52M", 1235000000 -> "1.24B", 999 -> "999".
std::string human_number(uint64_t n);

// Go's strconv.FormatFloat(v, 'f', -1, 64): shortest digits, no exponent ("2048", "0.5").
std::string format_float_plain(double v);

}  // namespace ollmlx::cli
