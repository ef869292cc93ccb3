// Small helpers for reading tokenizer.json and friends with error messages that name the file
// and the JSON path ("tokenizer.json: pre_tokenizer.pretokenizers[1]: 'behavior' ...").
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ollmlx::tok::jsonu {

using Json = nlohmann::json;

[[noreturn]] void fail(std::string_view where, std::string_view message);

// The member `key` of object `obj`, or nullptr when absent or JSON null.
const Json* field(const Json& obj, const char* key);

void require_object(const Json& obj, std::string_view where);
// The "type" member (required string).
std::string type_of(const Json& obj, std::string_view where);

std::string get_string(const Json& obj, const char* key, std::string_view where);
std::optional<std::string> get_opt_string(const Json& obj, const char* key,
                                          std::string_view where);
bool get_bool(const Json& obj, const char* key, bool fallback, std::string_view where);
uint64_t get_uint(const Json& obj, const char* key, std::string_view where);
uint64_t get_uint_or(const Json& obj, const char* key, uint64_t fallback, std::string_view where);
// A non-negative integer that fits int32 (token ids).
int32_t as_id(const Json& value, std::string_view where);
// A string holding exactly one character (Rust `char` fields).
std::string get_char(const Json& obj, const char* key, std::string_view where);

// Child path helpers: "a.b", "a[3]".
inline std::string child(std::string_view where, std::string_view key) {
  return std::string(where) + "." + std::string(key);
}
inline std::string index(std::string_view where, size_t i) {
  return std::string(where) + "[" + std::to_string(i) + "]";
}

}  // namespace ollmlx::tok::jsonu
