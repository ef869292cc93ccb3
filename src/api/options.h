// Request `options` (§2) with Ollama's coercion rules: integer options take any JSON number
// (truncated), float options need a number, use_mmap a bool, stop an array of strings; null
// values are skipped and unknown keys collected. A wrong type is Ollama's status 500
// `option "num_ctx" must be of type integer`.
#pragma once

#include "api/service.h"

namespace ollmlx::api {

// `value` is the `options` member (null = none). A non-object value is a Go type error (400)
// naming `ctx_struct`.options, e.g. "GenerateRequest".
Options decode_options(const Json& value, const std::string& ctx_struct);

}  // namespace ollmlx::api
