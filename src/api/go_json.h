// JSON text exactly as Ollama's Go server reads and writes it. Reading follows encoding/json's
// Decoder: the first value of the body is parsed and anything after it is ignored, syntax errors
// carry Go's messages ("invalid character 'x' looking for beginning of value", "unexpected
// EOF"), invalid UTF-8 and lone surrogates become U+FFFD. Writing follows json.Marshal: compact,
// keys in the order given, `<`, `>`, `&`, U+2028/U+2029 escaped, floats in Go's shortest form.
#pragma once

#include <string>
#include <string_view>

#include "api/service.h"

namespace ollmlx::api {

// Nesting deeper than this is refused ("exceeded max depth"), which keeps every recursive walk of
// a request (decoding, the engine's template rendering, re-encoding) shallow.
inline constexpr int kMaxJsonDepth = 1000;

// Parses the first JSON value of `body`. Throws ApiError(400) with Go's message; an empty or
// all-whitespace body gives "missing request body" (Go's io.EOF case).
Json parse_go_json(std::string_view body);

// Go's json.Marshal text of `value` (object keys in stored order; sort them first where Go would
// marshal a map).
std::string go_json(const Json& value);
void append_go_json(std::string& out, const Json& value);
void append_go_string(std::string& out, std::string_view s);
// Go's float64 encoding: shortest round-trip digits, exponent form below 1e-6 and from 1e21.
void append_go_float(std::string& out, double value);

// Go's %q (strconv.Quote): double-quoted, printable Unicode kept, the rest escaped.
std::string go_quote(std::string_view s);

// Replaces invalid UTF-8 the way Go does (each bad byte becomes U+FFFD).
std::string valid_utf8(std::string_view s);

// A copy of `value` whose objects, at every depth, have their keys in Go map order (sorted by
// bytes), as encoding/json writes a map[string]any.
Json sorted_keys(const Json& value);

}  // namespace ollmlx::api
