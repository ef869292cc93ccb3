// Typed access to GGUF metadata for the converter, with errors naming the file and key.
// Internal to src/store/import.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "store/import/gguf.h"
#include "util/error.h"

namespace ollmlx::gguf {

class Meta {
 public:
  Meta(const Header& header, const std::string& file) : h_(header), file_(file) {}

  const Header& header() const { return h_; }
  const std::string& file() const { return file_; }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw Error("gguf", file_ + ": " + fmt::format(format, std::forward<Args>(args)...));
  }

  const Value* get(std::string_view key) const { return h_.find(key); }
  const Value& req(std::string_view key) const {
    const Value* v = get(key);
    if (!v) fail("missing required GGUF key '{}'", key);
    return *v;
  }

  // An integer-typed scalar (bool counts as 0/1, as Python's int() takes it).
  int64_t as_int(std::string_view key, const Value& v) const {
    if (v.is_big()) fail("GGUF key '{}': value {} is too large", key, v.u);
    if (v.is_integer() || v.type == ValueType::Bool) return v.i;
    fail("GGUF key '{}' must be an integer, not {}", key, to_string(v.type));
  }
  int64_t req_int(std::string_view key) const { return as_int(key, req(key)); }
  std::optional<int64_t> opt_int(std::string_view key) const {
    const Value* v = get(key);
    if (!v) return std::nullopt;
    return as_int(key, *v);
  }
  double as_float(std::string_view key, const Value& v) const {
    if (v.is_number() || v.type == ValueType::Bool) return v.f;
    fail("GGUF key '{}' must be a number, not {}", key, to_string(v.type));
  }
  double opt_float(std::string_view key, double def) const {
    const Value* v = get(key);
    return v ? as_float(key, *v) : def;
  }
  std::optional<std::string_view> opt_string(std::string_view key) const {
    const Value* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) fail("GGUF key '{}' must be a string, not {}", key, to_string(v->type));
    return v->s;
  }
  // Python truthiness of a value (what `bool(meta.get(key))` gives).
  static bool truthy(const Value& v) {
    if (v.is_string()) return !v.s.empty();
    if (v.is_array()) return v.size() > 0;
    return v.f != 0;
  }

 private:
  const Header& h_;
  const std::string& file_;
};

}  // namespace ollmlx::gguf
