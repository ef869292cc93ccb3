#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cli/commands.h"
#include "util/error.h"

namespace ollmlx::cli {

std::vector<int32_t> parse_token_list(const std::string& s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string part = s.substr(i, j - i);
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (part.empty()) throw_error("cli", "empty token id in '{}'", s);
    char* end = nullptr;
    long long v = std::strtoll(part.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > INT32_MAX) throw_error("cli", "invalid token id '{}'", part);
    out.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  if (out.empty()) throw_error("cli", "no token ids given");
  return out;
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  if (const char* e = std::getenv("OLLMLX_NUM_THREADS")) {
    int v = std::atoi(e);
    if (v > 0) return v;
  }
  return 0;
}

std::string resolve_device(const std::string& requested) {
  if (!requested.empty()) return requested;
  if (const char* e = std::getenv("OLLMLX_DEVICE")) return e;
  return default_backend_name();  // cuda when built in and a GPU is present
}

}  // namespace ollmlx::cli
