// Names of the store's error kinds and Go-style quoting for Ollama's exact messages.
#include "store/store_error.h"

namespace ollmlx::store {

const char* to_string(StoreErrorKind kind) {
  switch (kind) {
    case StoreErrorKind::InvalidName: return "invalid name";
    case StoreErrorKind::NotFound: return "not found";
    case StoreErrorKind::Unauthorized: return "unauthorized";
    case StoreErrorKind::NotMlx: return "not an MLX model";
    case StoreErrorKind::NoSpace: return "no space";
    case StoreErrorKind::DigestMismatch: return "digest mismatch";
    case StoreErrorKind::Network: return "network";
    case StoreErrorKind::Canceled: return "canceled";
    case StoreErrorKind::Corrupt: return "corrupt";
    case StoreErrorKind::Io: return "io";
  }
  return "unknown";
}

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f)
          out += fmt::format("\\x{:02x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace ollmlx::store
