// Python string formatting for templates: the `%` operator (printf-style, also the `format`
// filter) and str.format() with the format-spec mini-language.
#pragma once

#include <string>

#include "template/value.h"

namespace ollmlx::tmpl {

// fmt % args (args: a tuple, a mapping for %(name)s, or a single value).
std::string percent_format(Interp& in, const std::string& fmt, const Value& args);
// fmt.format(*args, **kwargs).
std::string brace_format(Interp& in, const std::string& fmt, const CallArgs& args);
// format(value, spec) of one value (the part after ':' in a replacement field).
std::string format_value(const Value& v, const std::string& spec);

}  // namespace ollmlx::tmpl
