// ollmlx's Jinja engine: renders Hugging Face chat templates the way transformers does
// (jinja2's ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loopcontrols, plus
// transformers' tojson, raise_exception and strftime_now). Templates are untrusted input:
// parsing and rendering are bounded in depth, steps and output size, and no construct reaches
// files or the environment. Every failure is a TemplateError with line and column.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/error.h"

namespace ollmlx::tmpl {

struct RenderOptions {
  // Largest rendered text, and largest string any expression may build.
  size_t max_output_bytes = size_t{32} << 20;
  // Evaluation budget: expression nodes, loop iterations and items processed by filters.
  uint64_t max_steps = 20'000'000;
  // Nested macro calls (also loop(...) recursion).
  int max_call_depth = 100;
  // Nested evaluation frames (expressions within statements within macro calls).
  int max_nesting = 1000;
  // The clock strftime_now() reads; default: local time now (like datetime.now()).
  std::function<std::tm()> now;
};

class TemplateError : public ollmlx::Error {
 public:
  enum class Kind {
    Syntax,     // the template does not parse (jinja2 TemplateSyntaxError)
    Undefined,  // an undefined value was used (jinja2 UndefinedError)
    Type,       // an operation on the wrong type (Python TypeError)
    Value,      // bad value: division by zero, bad argument (Python ValueError and kin)
    Security,   // the sandbox refused an operation (jinja2 SecurityError)
    Raised,     // the template called raise_exception(message)
    Limit,      // a RenderOptions limit or a nesting limit was exceeded
    Runtime,    // anything else jinja2 reports as TemplateRuntimeError
  };
  TemplateError(Kind kind, int line, int column, std::string message);
  Kind kind() const { return kind_; }
  int line() const { return line_; }
  int column() const { return column_; }
  // The message without the "[template] line L, column C: " prefix.
  const std::string& message() const { return message_; }

 private:
  Kind kind_;
  int line_;
  int column_;
  std::string message_;
};

class Template {
 public:
  // Throws TemplateError (Kind::Syntax) for templates jinja2 would refuse to compile.
  static Template parse(std::string_view source);
  // Renders with the JSON object's members as variables (plus the built-in globals).
  std::string render(const nlohmann::ordered_json& context,
                     const RenderOptions& options = {}) const;

  struct Impl;

 private:
  explicit Template(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ollmlx::tmpl
