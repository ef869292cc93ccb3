// Conversions between JSON and template values: the render context comes in as JSON, and the
// tojson filter writes values the way Python's json.dumps does (transformers' tojson).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "template/value.h"

namespace ollmlx::tmpl {

Value from_json(const nlohmann::ordered_json& j);

struct JsonDumpOptions {
  std::optional<std::string> indent;  // none: one line
  std::string item_separator = ", ";  // json.dumps defaults: ", " / ","-with-indent
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
  size_t max_bytes = SIZE_MAX;  // Limit error when the text grows past this
};

std::string dump_json(const Value& v, const JsonDumpOptions& options);

}  // namespace ollmlx::tmpl
