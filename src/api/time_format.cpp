// Formats timestamps as Go's Time.MarshalJSON does, so created_at/modified_at/expires_at parse in
// every client exactly like Ollama's (Open WebUI uses datetime.fromisoformat on expires_at).
#include "api/time_format.h"

#include <ctime>

#include <fmt/format.h>

namespace ollmlx::api {
namespace {

constexpr int64_t kNanosPerSecond = 1000000000;

// Days since 1970-01-01 to a proleptic Gregorian date (the classic era-based algorithm).
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

int64_t unix_seconds(Clock::time_point t) {
  const int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return floor_div(ns, kNanosPerSecond);
}

std::string format_time_offset(Clock::time_point t, long offset_seconds) {
  const int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const int64_t secs = floor_div(ns, kNanosPerSecond) + offset_seconds;
  const int64_t frac = ns - floor_div(ns, kNanosPerSecond) * kNanosPerSecond;
  const int64_t days = floor_div(secs, 86400);
  const int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  std::string out = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", y, m, d, sod / 3600,
                                (sod / 60) % 60, sod % 60);
  if (frac != 0) {
    std::string f = fmt::format("{:09d}", frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += '.';
    out += f;
  }
  if (offset_seconds == 0) {
    out += 'Z';
  } else {
    const long a = offset_seconds < 0 ? -offset_seconds : offset_seconds;
    out += fmt::format("{}{:02d}:{:02d}", offset_seconds < 0 ? '-' : '+', a / 3600, (a / 60) % 60);
  }
  return out;
}

std::string format_time_utc(Clock::time_point t) { return format_time_offset(t, 0); }

std::string format_time_local(Clock::time_point t) {
  const std::time_t tt = static_cast<std::time_t>(unix_seconds(t));
  std::tm tm{};
  if (localtime_r(&tt, &tm) == nullptr) return format_time_utc(t);
  return format_time_offset(t, tm.tm_gmtoff);
}

}  // namespace ollmlx::api
