// Decodes request options exactly as Ollama's Options.FromMap does (see options.h).
#include "api/options.h"

#include <cmath>
#include <limits>

#include "api/go_decode.h"
#include "api/go_json.h"

namespace ollmlx::api {
namespace {

[[noreturn]] void option_error(const std::string& key, const char* what) {
  throw ApiError(500, "option " + go_quote(key) + " must be of " + what);
}

// Go converts the float64 it decoded to int64 (truncation); we clamp where Go's result would be
// undefined.
int64_t to_int(const Json& v, const std::string& key) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(u);
  }
  if (!v.is_number_float()) option_error(key, "type integer");
  const double d = std::trunc(v.get<double>());
  if (d >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (d <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

double to_float(const Json& v, const std::string& key) {
  if (!v.is_number()) option_error(key, "type float32");
  return v.get<double>();
}

}  // namespace

Options decode_options(const Json& value, const std::string& ctx_struct) {
  Options o;
  if (value.is_null()) return o;
  if (!value.is_object()) {
    throw_type_error(value, "map[string]interface {}", GoCtx{ctx_struct, "options"});
  }
  for (const auto& [key, v] : value.items()) {
    std::optional<int64_t>* int_field = nullptr;
    std::optional<double>* float_field = nullptr;
    if (key == "num_ctx") int_field = &o.num_ctx;
    else if (key == "num_batch") int_field = &o.num_batch;
    else if (key == "num_gpu") int_field = &o.num_gpu;
    else if (key == "main_gpu") int_field = &o.main_gpu;
    else if (key == "num_thread") int_field = &o.num_thread;
    else if (key == "num_keep") int_field = &o.num_keep;
    else if (key == "seed") int_field = &o.seed;
    else if (key == "num_predict") int_field = &o.num_predict;
    else if (key == "top_k") int_field = &o.top_k;
    else if (key == "repeat_last_n") int_field = &o.repeat_last_n;
    else if (key == "draft_num_predict") int_field = &o.draft_num_predict;
    else if (key == "top_p") float_field = &o.top_p;
    else if (key == "min_p") float_field = &o.min_p;
    else if (key == "typical_p") float_field = &o.typical_p;
    else if (key == "temperature") float_field = &o.temperature;
    else if (key == "repeat_penalty") float_field = &o.repeat_penalty;
    else if (key == "presence_penalty") float_field = &o.presence_penalty;
    else if (key == "frequency_penalty") float_field = &o.frequency_penalty;

    const bool known = int_field || float_field || key == "use_mmap" || key == "stop";
    if (!known) {
      o.ignored.push_back(key);
      continue;
    }
    if (v.is_null()) continue;
    if (int_field) {
      *int_field = to_int(v, key);
    } else if (float_field) {
      *float_field = to_float(v, key);
    } else if (key == "use_mmap") {
      if (!v.is_boolean()) option_error(key, "type boolean");
      o.use_mmap = v.get<bool>();
    } else {  // stop
      if (!v.is_array()) option_error(key, "type array");
      std::vector<std::string> stops;
      for (const auto& s : v) {
        if (!s.is_string()) option_error(key, "an array of strings");
        stops.push_back(s.get<std::string>());
      }
      o.stop = std::move(stops);
    }
  }
  return o;
}

}  // namespace ollmlx::api
