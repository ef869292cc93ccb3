// Error type used across ollmlx. Every message starts with the subsystem in brackets and names
// the file/tensor/field involved, e.g. "[safetensors] model.safetensors: tensor 'x' offset past
// end of file". Exceptions stay inside a layer's public API; the server catches them at its edge.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace ollmlx {

class Error : public std::runtime_error {
 public:
  Error(std::string_view subsystem, const std::string& message)
      : std::runtime_error(fmt::format("[{}] {}", subsystem, message)), subsystem_(subsystem) {}
  const std::string& subsystem() const { return subsystem_; }

 private:
  std::string subsystem_;
};

// Usage: throw_error("safetensors", "{}: tensor '{}' offset past end of file", file, name);
template <typename... Args>
[[noreturn]] void throw_error(std::string_view subsystem, fmt::format_string<Args...> format,
                              Args&&... args) {
  throw Error(subsystem, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ollmlx

// Internal invariant (a bug in ollmlx if it fails, never reachable from user input).
#define OLLMLX_ASSERT(cond)                                                                   \
  do {                                                                                        \
    if (!(cond)) ::ollmlx::throw_error("assert", "{}:{}: {}", __FILE__, __LINE__, #cond);     \
  } while (0)
