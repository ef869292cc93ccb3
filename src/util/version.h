// ollmlx's own version (the Ollama API version it reports is separate, in the server).
#pragma once

namespace ollmlx {
inline constexpr const char* kVersion = "0.1.0";
}
