// Logging through spdlog. Level from OLLMLX_LOG (trace|debug|info|warn|error|off), default info.
#pragma once

#include <spdlog/spdlog.h>

namespace ollmlx::log {

// Reads OLLMLX_LOG once and configures the default logger (stderr). Safe to call repeatedly.
void init();

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

}  // namespace ollmlx::log
