// Typed field access with encoding/json's coercion rules and error text (see go_decode.h).
#include "api/go_decode.h"

#include <limits>

namespace ollmlx::api {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_fold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The literal as Go would quote it after "number " (floats through nlohmann's round-trip form).
std::string number_text(const Json& v) { return v.dump(); }

}  // namespace

GoCtx GoCtx::at(std::string_view field) const {
  return {struct_name, path.empty() ? std::string(field) : path + "." + std::string(field)};
}

GoCtx GoCtx::in(std::string_view nested_struct) const { return {std::string(nested_struct), path}; }

std::string go_kind(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "bool";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    case Json::value_t::null: return "null";
    default: return "number";
  }
}

void throw_kind_error(std::string_view value_kind, std::string_view go_type, const GoCtx& ctx) {
  std::string msg = "json: cannot unmarshal " + std::string(value_kind);
  if (!ctx.struct_name.empty() || !ctx.path.empty()) {
    msg += " into Go struct field " + ctx.struct_name + "." + ctx.path;
  } else {
    msg += " into Go value";
  }
  msg += " of type " + std::string(go_type);
  throw ApiError(400, msg);
}

void throw_type_error(const Json& value, std::string_view go_type, const GoCtx& ctx) {
  throw_kind_error(go_kind(value), go_type, ctx);
}

void for_each_field(const Json& obj, std::initializer_list<std::string_view> fields,
                    const std::function<void(std::string_view, const Json&)>& fn) {
  for (const auto& [key, value] : obj.items()) {
    std::string_view match;
    for (const auto f : fields) {
      if (key == f) {
        match = f;
        break;
      }
    }
    if (match.empty()) {
      for (const auto f : fields) {
        if (equal_fold(key, f)) {
          match = f;
          break;
        }
      }
    }
    if (match.empty() || value.is_null()) continue;
    fn(match, value);
  }
}

std::string go_string(const Json& v, const GoCtx& c) {
  if (!v.is_string()) throw_type_error(v, "string", c);
  return v.get<std::string>();
}

bool go_bool(const Json& v, const GoCtx& c) {
  if (!v.is_boolean()) throw_type_error(v, "bool", c);
  return v.get<bool>();
}

int64_t go_int(const Json& v, const GoCtx& c, std::string_view type) {
  if (!v.is_number()) throw_type_error(v, type, c);
  int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  if (type == "int32") {
    lo = std::numeric_limits<int32_t>::min();
    hi = std::numeric_limits<int32_t>::max();
  }
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    const auto i = v.get<int64_t>();
    if (i >= lo && i <= hi) return i;
  } else if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(hi)) return static_cast<int64_t>(u);
  } else if (v.get<double>() == 0.0) {
    return 0;  // the literal -0, which Go's ParseInt accepts
  }
  throw_kind_error("number " + number_text(v), type, c);
}

double go_float(const Json& v, const GoCtx& c, std::string_view type) {
  if (!v.is_number()) throw_type_error(v, type, c);
  return v.get<double>();
}

std::vector<std::string> go_string_slice(const Json& v, const GoCtx& c) {
  std::vector<std::string> out;
  for (const auto& e : go_array(v, c, "[]string")) {
    if (e.is_null()) {
      out.emplace_back();
      continue;
    }
    out.push_back(go_string(e, c));
  }
  return out;
}

const Json& go_array(const Json& v, const GoCtx& c, std::string_view slice_type) {
  if (!v.is_array()) throw_type_error(v, slice_type, c);
  return v;
}

const Json& go_object(const Json& v, const GoCtx& c, std::string_view type) {
  if (!v.is_object()) throw_type_error(v, type, c);
  return v;
}

}  // namespace ollmlx::api
