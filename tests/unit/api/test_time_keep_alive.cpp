// Go time.Time JSON timestamps and Go durations / keep_alive values.
#include <gtest/gtest.h>

#include <cstdlib>

#include "api/keep_alive.h"
#include "api/time_format.h"
#include "api_test_util.h"

namespace ollmlx::api {
namespace {

using namespace std::chrono;

Clock::time_point at(int64_t unix_ns) {
  return Clock::time_point(duration_cast<Clock::duration>(nanoseconds(unix_ns)));
}

TEST(TimeFormat, Rfc3339NanoTrimsTrailingZeros) {
  EXPECT_EQ(format_time_utc(at(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time_utc(at(1714867064706015396)), "2024-05-04T23:57:44.706015396Z");
  EXPECT_EQ(format_time_utc(at(1714867064500000000)), "2024-05-04T23:57:44.5Z");
  EXPECT_EQ(format_time_utc(at(1714867064000000010)), "2024-05-04T23:57:44.00000001Z");
  EXPECT_EQ(format_time_utc(at(951782400000000000)), "2000-02-29T00:00:00Z");
  EXPECT_EQ(format_time_utc(at(-1)), "1969-12-31T23:59:59.999999999Z");
}

TEST(TimeFormat, OffsetsAsGoWritesThem) {
  const auto t = at(1714867064706015396);
  EXPECT_EQ(format_time_offset(t, -7 * 3600), "2024-05-04T16:57:44.706015396-07:00");
  EXPECT_EQ(format_time_offset(t, 5 * 3600 + 1800), "2024-05-05T05:27:44.706015396+05:30");
  EXPECT_EQ(format_time_offset(t, 0), "2024-05-04T23:57:44.706015396Z");
}

TEST(TimeFormat, LocalUsesTheZoneOffset) {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  setenv("TZ", "America/Los_Angeles", 1);
  tzset();
  EXPECT_EQ(format_time_local(at(1714867064706015396)), "2024-05-04T16:57:44.706015396-07:00");
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(format_time_local(at(1714867064706015396)), "2024-05-04T23:57:44.706015396Z");
  if (old) setenv("TZ", saved.c_str(), 1);
  else unsetenv("TZ");
  tzset();
}

TEST(TimeFormat, UnixSeconds) {
  EXPECT_EQ(unix_seconds(at(1714867064706015396)), 1714867064);
  EXPECT_EQ(unix_seconds(at(-1)), -1);
}

TEST(GoDuration, Parses) {
  EXPECT_EQ(parse_go_duration("10m"), minutes(10));
  EXPECT_EQ(parse_go_duration("1h30m"), minutes(90));
  EXPECT_EQ(parse_go_duration("-1m"), -minutes(1));
  EXPECT_EQ(parse_go_duration("+5s"), seconds(5));
  EXPECT_EQ(parse_go_duration("0"), nanoseconds(0));
  EXPECT_EQ(parse_go_duration("-0"), nanoseconds(0));
  EXPECT_EQ(parse_go_duration("1.5h"), minutes(90));
  EXPECT_EQ(parse_go_duration(".5s"), milliseconds(500));
  EXPECT_EQ(parse_go_duration("1.s"), seconds(1));
  EXPECT_EQ(parse_go_duration("300ms"), milliseconds(300));
  EXPECT_EQ(parse_go_duration("2us"), microseconds(2));
  EXPECT_EQ(parse_go_duration("2\xC2\xB5s"), microseconds(2));
  EXPECT_EQ(parse_go_duration("2\xCE\xBCs"), microseconds(2));
  EXPECT_EQ(parse_go_duration("7ns"), nanoseconds(7));
  EXPECT_EQ(parse_go_duration("24h"), hours(24));
  EXPECT_EQ(parse_go_duration("2562047h47m16.854775807s"), nanoseconds(INT64_MAX));
}

TEST(GoDuration, ErrorsMatchGo) {
  EXPECT_API_ERROR(parse_go_duration("300"), 400, "time: missing unit in duration \"300\"");
  EXPECT_API_ERROR(parse_go_duration("-1"), 400, "time: missing unit in duration \"-1\"");
  EXPECT_API_ERROR(parse_go_duration(""), 400, "time: invalid duration \"\"");
  EXPECT_API_ERROR(parse_go_duration("abc"), 400, "time: invalid duration \"abc\"");
  EXPECT_API_ERROR(parse_go_duration("."), 400, "time: invalid duration \".\"");
  EXPECT_API_ERROR(parse_go_duration("5x"), 400, "time: unknown unit \"x\" in duration \"5x\"");
  EXPECT_API_ERROR(parse_go_duration("1d"), 400, "time: unknown unit \"d\" in duration \"1d\"");
  EXPECT_API_ERROR(parse_go_duration("9999999999h"), 400,
                   "time: invalid duration \"9999999999h\"");
  EXPECT_API_ERROR(parse_go_duration("1\xE2\x82\xACs"), 400,
                   "time: unknown unit \"\\xe2\\x82\\xacs\" in duration \"1\\xe2\\x82\\xacs\"");
}

TEST(KeepAlive, NumbersAreSeconds) {
  auto ka = parse_keep_alive(Json(300));
  EXPECT_FALSE(ka.forever);
  EXPECT_EQ(ka.duration, minutes(5));
  ka = parse_keep_alive(Json(1.5));
  EXPECT_EQ(ka.duration, milliseconds(1500));
  ka = parse_keep_alive(Json(0));
  EXPECT_FALSE(ka.forever);
  EXPECT_EQ(ka.duration, nanoseconds(0));
  EXPECT_TRUE(parse_keep_alive(Json(-1)).forever);
  EXPECT_TRUE(parse_keep_alive(Json(-0.5)).forever);
  EXPECT_TRUE(parse_keep_alive(Json(1e300)).forever);
}

TEST(KeepAlive, StringsAreDurations) {
  EXPECT_EQ(parse_keep_alive(Json("10m")).duration, minutes(10));
  EXPECT_TRUE(parse_keep_alive(Json("-1m")).forever);
  EXPECT_EQ(parse_keep_alive(Json("0")).duration, nanoseconds(0));
  EXPECT_FALSE(parse_keep_alive(Json("0")).forever);
  EXPECT_API_ERROR(parse_keep_alive(Json("300")), 400, "time: missing unit in duration \"300\"");
}

TEST(KeepAlive, OtherTypesAreRefused) {
  EXPECT_API_ERROR(parse_keep_alive(Json(true)), 400, "Unsupported type: 'bool'");
  EXPECT_API_ERROR(parse_keep_alive(Json::array()), 400, "Unsupported type: '[]interface {}'");
  EXPECT_API_ERROR(parse_keep_alive(Json::object()), 400,
                   "Unsupported type: 'map[string]interface {}'");
}

}  // namespace
}  // namespace ollmlx::api
