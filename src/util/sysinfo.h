// Process memory figures (Linux /proc), for benchmarks and /api/ps.
#pragma once

#include <cstdint>

namespace ollmlx {

uint64_t peak_rss_bytes();     // VmHWM, 0 if unknown
uint64_t current_rss_bytes();  // VmRSS, 0 if unknown

}  // namespace ollmlx
