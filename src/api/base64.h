// Standard base64 as Go's encoding/base64.StdEncoding reads it (padding required, CR/LF
// ignored): images arrive as base64 strings and Ollama rejects bad ones while decoding the body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::api {

// The offset Go reports in "illegal base64 data at input byte N", or nullopt if `s` is valid.
std::optional<size_t> base64_error_offset(std::string_view s);

std::string base64_encode(const uint8_t* data, size_t size);

}  // namespace ollmlx::api
