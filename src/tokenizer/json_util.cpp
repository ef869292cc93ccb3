// Implementation of the JSON reading helpers (see json_util.h).
#include "tokenizer/json_util.h"

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ollmlx::tok::jsonu {

void fail(std::string_view where, std::string_view message) {
  throw_error("tokenizer", "{}: {}", where, message);
}

const Json* field(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

void require_object(const Json& obj, std::string_view where) {
  if (!obj.is_object()) fail(where, fmt::format("expected an object, got {}", obj.type_name()));
}

std::string type_of(const Json& obj, std::string_view where) {
  require_object(obj, where);
  return get_string(obj, "type", where);
}

std::string get_string(const Json& obj, const char* key, std::string_view where) {
  const Json* v = field(obj, key);
  if (v == nullptr) fail(where, fmt::format("missing '{}'", key));
  if (!v->is_string()) fail(where, fmt::format("'{}' must be a string", key));
  return v->get<std::string>();
}

std::optional<std::string> get_opt_string(const Json& obj, const char* key,
                                          std::string_view where) {
  const Json* v = field(obj, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) fail(where, fmt::format("'{}' must be a string or null", key));
  return v->get<std::string>();
}

bool get_bool(const Json& obj, const char* key, bool fallback, std::string_view where) {
  const Json* v = field(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) fail(where, fmt::format("'{}' must be a boolean", key));
  return v->get<bool>();
}

uint64_t get_uint(const Json& obj, const char* key, std::string_view where) {
  const Json* v = field(obj, key);
  if (v == nullptr) fail(where, fmt::format("missing '{}'", key));
  if (!v->is_number_unsigned()) {
    fail(where, fmt::format("'{}' must be a non-negative integer", key));
  }
  return v->get<uint64_t>();
}

uint64_t get_uint_or(const Json& obj, const char* key, uint64_t fallback, std::string_view where) {
  return field(obj, key) == nullptr ? fallback : get_uint(obj, key, where);
}

int32_t as_id(const Json& value, std::string_view where) {
  if (!value.is_number_unsigned() || value.get<uint64_t>() > 0x7FFFFFFFull) {
    fail(where, fmt::format("token id must be an integer in [0, 2^31), got {}", value.dump()));
  }
  return static_cast<int32_t>(value.get<uint64_t>());
}

std::string get_char(const Json& obj, const char* key, std::string_view where) {
  std::string s = get_string(obj, key, where);
  if (s.empty() || unicode::count_chars(s) != 1) {
    fail(where, fmt::format("'{}' must be a single character", key));
  }
  return s;
}

}  // namespace ollmlx::tok::jsonu
