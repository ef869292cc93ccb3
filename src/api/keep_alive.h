// keep_alive (§1.16) and Go duration strings ("10m", "1h30m", "-1m", "0"), parsed as Go's
// time.ParseDuration and Ollama's api.Duration do, with the same error messages.
#pragma once

#include <chrono>
#include <string_view>

#include "api/service.h"

namespace ollmlx::api {

// Go's time.ParseDuration. Throws ApiError(400, "time: missing unit in duration \"300\"") etc.
std::chrono::nanoseconds parse_go_duration(std::string_view s);

// A keep_alive value: number = seconds (fractions ok), string = Go duration; negative = forever.
// JSON null is "not given" and must be handled by the caller. Other types throw
// ApiError(400, "Unsupported type: 'bool'") as Ollama does.
KeepAlive parse_keep_alive(const Json& value);

}  // namespace ollmlx::api
