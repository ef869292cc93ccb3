// Python's text forms of scalars, byte for byte: float repr (shortest round-trip, "1e+16",
// "1.0"), string repr (quote choice and escapes) and json.dumps string escaping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ollmlx::tmpl {

std::string float_repr(double d);
std::string str_repr(std::string_view s);
// Appends s as a JSON string literal, the way json.dumps(ensure_ascii=...) writes it.
void json_quote(std::string& out, std::string_view s, bool ensure_ascii);
// HTML escaping of markupsafe.escape: & < > ' ".
std::string html_escape(std::string_view s);
// Parses a Python float literal the way float(str) does (surrounding whitespace, '_'
// between digits, inf/nan); false when it is not one.
bool parse_py_float(std::string_view s, double& out);
// int(str, base) with Python's rules (base 0 = from prefix); false when it is not one.
bool parse_py_int(std::string_view s, int base, int64_t& out);

}  // namespace ollmlx::tmpl
