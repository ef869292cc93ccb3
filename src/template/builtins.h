// Registries of jinja2's built-in filters and tests, Python methods of str/dict/list, and the
// globals transformers' environment provides (range, dict, namespace, raise_exception, ...).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/value.h"

namespace ollmlx::tmpl {

class DictData;

using FilterFn = Value (*)(Interp&, const Value&, CallArgs&);
using TestFn = bool (*)(Interp&, const Value&, CallArgs&);

// Null when jinja2 has no such filter / test.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// Attribute lookup on built-in types (str/dict/list/tuple methods, int attributes): the method
// bound to `self`, an unsafe-attribute undefined, or nullopt when Python has no such attribute.
std::optional<Value> builtin_attribute(const Value& self, const std::string& name);

// The globals of transformers' sandboxed environment.
void add_globals(DictData& globals);

// Python str helpers shared by methods and filters.
std::vector<std::string> py_splitlines(const std::string& s, bool keepends);
std::string py_title(const std::string& s);
std::string py_capitalize(const std::string& s);
std::string py_center(Interp& in, const std::string& s, int64_t width, char32_t fill);

}  // namespace ollmlx::tmpl
