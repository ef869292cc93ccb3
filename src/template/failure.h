// The exception the template engine throws internally. It carries an error kind (which Python
// exception jinja2 would raise) and, once known, the source offset of the failing construct;
// Template::parse/render turn it into a TemplateError with line and column.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <exception>
#include <string>

namespace ollmlx::tmpl {

enum class ErrorKind {
  Syntax,     // TemplateSyntaxError / TemplateAssertionError
  Undefined,  // UndefinedError
  Type,       // TypeError
  Value,      // ValueError, ZeroDivisionError, OverflowError, ...
  Security,   // SecurityError (sandbox)
  Raised,     // raise_exception() called by the template
  Limit,      // ollmlx's own resource limits
  Runtime,    // TemplateRuntimeError and anything else
};

inline constexpr uint32_t kNoPos = UINT32_MAX;

struct Failure : std::exception {
  Failure(ErrorKind k, std::string msg, uint32_t p = kNoPos)
      : kind(k), message(std::move(msg)), pos(p) {}
  const char* what() const noexcept override { return message.c_str(); }
  ErrorKind kind;
  std::string message;
  uint32_t pos;
};

[[noreturn]] inline void fail(ErrorKind kind, std::string message) {
  throw Failure(kind, std::move(message));
}

template <typename... Args>
[[noreturn]] void failf(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Failure(kind, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ollmlx::tmpl
