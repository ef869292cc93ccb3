// Decoding of request structs with encoding/json's rules and messages: unknown fields ignored,
// keys matched exactly or case-insensitively, null leaves a field unset, wrong types give
// "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string".
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "api/service.h"

namespace ollmlx::api {

// Where a value sits, as Go names it in errors: the innermost Go struct and the JSON path of
// field names from the request root ("messages.content"; array indices are not part of it).
struct GoCtx {
  std::string struct_name;
  std::string path;
  GoCtx at(std::string_view field) const;              // a field of the same struct
  GoCtx in(std::string_view nested_struct) const;      // entering an element struct
};

// "string", "number", "bool", "array", "object" (Go's UnmarshalTypeError.Value).
std::string go_kind(const Json& v);

[[noreturn]] void throw_kind_error(std::string_view value_kind, std::string_view go_type,
                                   const GoCtx& ctx);
[[noreturn]] void throw_type_error(const Json& value, std::string_view go_type, const GoCtx& ctx);

// Calls `fn(field, value)` for each member of `obj` (document order) whose key names one of
// `fields`; null values are skipped. `obj` must be an object.
void for_each_field(const Json& obj, std::initializer_list<std::string_view> fields,
                    const std::function<void(std::string_view, const Json&)>& fn);

std::string go_string(const Json& v, const GoCtx& c);
bool go_bool(const Json& v, const GoCtx& c);
// Go int/int32 fields: integral JSON numbers in range only ("number 1.5" otherwise).
int64_t go_int(const Json& v, const GoCtx& c, std::string_view type = "int");
double go_float(const Json& v, const GoCtx& c, std::string_view type = "float64");
std::vector<std::string> go_string_slice(const Json& v, const GoCtx& c);
// The value must be an array (nulls inside are zero values); throws with `slice_type` otherwise.
const Json& go_array(const Json& v, const GoCtx& c, std::string_view slice_type);
// The value must be an object (a struct or map field); throws with `type` otherwise.
const Json& go_object(const Json& v, const GoCtx& c, std::string_view type);

}  // namespace ollmlx::api
