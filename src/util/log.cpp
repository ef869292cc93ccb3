#include "util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>

namespace ollmlx::log {

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("ollmlx");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
    const char* level = std::getenv("OLLMLX_LOG");
    spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::info);
  });
}

}  // namespace ollmlx::log
