// Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros trimmed): created_at is
// written in UTC ("...Z"), modified_at and expires_at in server-local time with its offset.
#pragma once

#include <string>

#include "api/service.h"

namespace ollmlx::api {

std::string format_time_utc(Clock::time_point t);
std::string format_time_local(Clock::time_point t);
// As format_time_local with an explicit UTC offset in seconds (0 writes "Z", as Go does).
std::string format_time_offset(Clock::time_point t, long offset_seconds);
// Whole seconds since the Unix epoch, rounded toward negative infinity (Go's Time.Unix()).
int64_t unix_seconds(Clock::time_point t);

}  // namespace ollmlx::api
