// The public face of the engine (jinja.h): parse = normalize + tokenize + parse, render =
// interpret against a JSON context; internal failures become TemplateErrors with line/column.
#include "template/jinja.h"

#include <fmt/format.h>

#include "template/failure.h"
#include "template/interp.h"
#include "template/json_value.h"
#include "template/lexer.h"
#include "template/parser.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

struct Template::Impl {
  std::string source;  // normalized, positions refer to it
  Body body;
};

TemplateError::TemplateError(Kind kind, int line, int column, std::string message)
    : Error("template",
            line > 0 ? fmt::format("line {}, column {}: {}", line, column, message) : message),
      kind_(kind),
      line_(line),
      column_(column),
      message_(std::move(message)) {}

namespace {

TemplateError::Kind public_kind(ErrorKind k) {
  switch (k) {
    case ErrorKind::Syntax: return TemplateError::Kind::Syntax;
    case ErrorKind::Undefined: return TemplateError::Kind::Undefined;
    case ErrorKind::Type: return TemplateError::Kind::Type;
    case ErrorKind::Value: return TemplateError::Kind::Value;
    case ErrorKind::Security: return TemplateError::Kind::Security;
    case ErrorKind::Raised: return TemplateError::Kind::Raised;
    case ErrorKind::Limit: return TemplateError::Kind::Limit;
    case ErrorKind::Runtime: return TemplateError::Kind::Runtime;
  }
  return TemplateError::Kind::Runtime;
}

TemplateError to_error(const Failure& f, const std::string& source) {
  int line = 0, column = 0;
  if (f.pos != kNoPos) {
    const size_t pos = std::min<size_t>(f.pos, source.size());
    line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos; ++i) {
      if (source[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    column = static_cast<int>(
                 utf8_length(std::string_view(source).substr(line_start, pos - line_start))) +
             1;
  }
  std::string message = f.message;
  if (f.kind == ErrorKind::Raised) message = "raise_exception: " + message;
  return TemplateError(public_kind(f.kind), line, column, std::move(message));
}

}  // namespace

Template Template::parse(std::string_view source) {
  auto impl = std::make_shared<Impl>();
  if (!utf8_valid(source)) {
    size_t i = 0;
    while (i < source.size()) {
      const size_t start = i;
      if (utf8_next(source, i) == 0xFFFD && i == start + 1 &&
          static_cast<unsigned char>(source[start]) >= 0x80) {
        i = start;
        break;
      }
    }
    throw to_error(
        Failure(ErrorKind::Syntax, "template is not valid UTF-8", static_cast<uint32_t>(i)),
        std::string(source));
  }
  if (source.size() >= kNoPos) {
    throw TemplateError(TemplateError::Kind::Limit, 0, 0, "template source too large");
  }
  impl->source = normalize_source(source);
  try {
    impl->body = parse_template(tokenize(impl->source));
  } catch (const Failure& f) {
    throw to_error(f, impl->source);
  }
  return Template(std::move(impl));
}

std::string Template::render(const nlohmann::ordered_json& context,
                             const RenderOptions& options) const {
  try {
    if (!context.is_object() && !context.is_null()) {
      throw Failure(ErrorKind::Type, "the render context must be a JSON object");
    }
    Value ctx = context.is_null() ? Value::dict(std::make_shared<DictData>()) : from_json(context);
    auto dict = std::make_shared<DictData>(ctx.dict());
    Interp in(options, std::move(dict));
    return in.render(impl_->body);
  } catch (const Failure& f) {
    throw to_error(f, impl_->source);
  }
}

}  // namespace ollmlx::tmpl
