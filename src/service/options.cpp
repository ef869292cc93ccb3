#include "service/options.h"

#include <fmt/format.h>

#include <cmath>

namespace ollmlx::service {
namespace {

using Json = nlohmann::ordered_json;

struct Values {
  double temperature = 0.8, top_p = 0.9, min_p = 0.0, typical_p = 1.0, repeat_penalty = 1.0,
         presence_penalty = 0.0, frequency_penalty = 0.0;
  int64_t top_k = 40, repeat_last_n = 64, seed = -1, num_predict = -1, num_ctx = 0;
  std::vector<std::string> stop;
};

// Modelfile parameters: numbers may arrive as numbers or strings ("0.7"); stop as a string or list.
void apply_model_params(Values& v, const Json& params) {
  if (!params.is_object()) return;
  auto num = [&](const char* key, auto& out) {
    if (!params.contains(key)) return;
    const Json& x = params[key];
    using T = std::decay_t<decltype(out)>;
    if (x.is_number()) out = static_cast<T>(x.get<double>());
    if (x.is_string()) {
      try {
        out = static_cast<T>(std::stod(x.get<std::string>()));
      } catch (...) {
      }
    }
  };
  num("temperature", v.temperature);
  num("top_p", v.top_p);
  num("min_p", v.min_p);
  num("typical_p", v.typical_p);
  num("repeat_penalty", v.repeat_penalty);
  num("presence_penalty", v.presence_penalty);
  num("frequency_penalty", v.frequency_penalty);
  num("top_k", v.top_k);
  num("repeat_last_n", v.repeat_last_n);
  num("seed", v.seed);
  num("num_predict", v.num_predict);
  num("num_ctx", v.num_ctx);
  if (params.contains("stop")) {
    const Json& s = params["stop"];
    if (s.is_string()) v.stop.push_back(s.get<std::string>());
    if (s.is_array())
      for (const auto& x : s)
        if (x.is_string()) v.stop.push_back(x.get<std::string>());
  }
}

[[noreturn]] void bad(const std::string& what) { throw api::ApiError(400, "invalid option: " + what); }

void check_finite(const char* name, double x) {
  if (!std::isfinite(x)) bad(fmt::format("{} must be a finite number", name));
}

}  // namespace

ResolvedOptions resolve_options(const api::Options& r, const Json& modelfile, const ResidencyConfig& config,
                                int64_t model_context) {
  Values v;
  v.num_ctx = config.default_num_ctx;
  apply_model_params(v, modelfile.contains("parameters") ? modelfile["parameters"] : modelfile);
  if (r.temperature) v.temperature = *r.temperature;
  if (r.top_p) v.top_p = *r.top_p;
  if (r.min_p) v.min_p = *r.min_p;
  if (r.typical_p) v.typical_p = *r.typical_p;
  if (r.repeat_penalty) v.repeat_penalty = *r.repeat_penalty;
  if (r.presence_penalty) v.presence_penalty = *r.presence_penalty;
  if (r.frequency_penalty) v.frequency_penalty = *r.frequency_penalty;
  if (r.top_k) v.top_k = *r.top_k;
  if (r.repeat_last_n) v.repeat_last_n = *r.repeat_last_n;
  if (r.seed) v.seed = *r.seed;
  if (r.num_predict) v.num_predict = *r.num_predict;
  if (r.num_ctx) v.num_ctx = *r.num_ctx;
  if (r.stop) v.stop = *r.stop;

  for (auto [name, x] : {std::pair{"temperature", v.temperature}, {"top_p", v.top_p}, {"min_p", v.min_p},
                          {"typical_p", v.typical_p}, {"repeat_penalty", v.repeat_penalty},
                          {"presence_penalty", v.presence_penalty}, {"frequency_penalty", v.frequency_penalty}})
    check_finite(name, x);
  if (v.temperature < 0) bad("temperature must be >= 0");
  if (v.top_p < 0 || v.top_p > 1) bad("top_p must be between 0 and 1");
  if (v.min_p < 0 || v.min_p > 1) bad("min_p must be between 0 and 1");
  if (v.typical_p < 0 || v.typical_p > 1) bad("typical_p must be between 0 and 1");
  if (v.repeat_penalty < 0) bad("repeat_penalty must be >= 0");
  if (v.top_k < 0) bad("top_k must be >= 0");
  if (v.repeat_last_n < -1) bad("repeat_last_n must be >= -1");
  if (v.num_ctx < 1) bad("num_ctx must be at least 1");
  if (v.num_ctx > (int64_t{1} << 24)) bad(fmt::format("num_ctx {} is too large", v.num_ctx));
  for (const auto& s : v.stop)
    if (s.empty()) bad("stop strings must not be empty");

  ResolvedOptions out;
  out.num_ctx = std::min<int64_t>(v.num_ctx, model_context);
  out.num_predict = v.num_predict;
  out.stop = v.stop;
  SamplerParams& s = out.sampling;
  s.mlx_order = false;  // Ollama's filter order
  s.temperature = static_cast<float>(v.temperature);
  s.top_k = static_cast<int>(std::min<int64_t>(v.top_k, 1 << 30));
  s.top_p = v.top_p <= 0 ? 1.0f : static_cast<float>(v.top_p);
  s.min_p = static_cast<float>(v.min_p);
  s.typical_p = v.typical_p <= 0 ? 1.0f : static_cast<float>(v.typical_p);
  s.repeat_penalty = v.repeat_penalty <= 0 ? 1.0f : static_cast<float>(v.repeat_penalty);
  s.presence_penalty = static_cast<float>(v.presence_penalty);
  s.frequency_penalty = static_cast<float>(v.frequency_penalty);
  s.penalty_last_n = v.repeat_last_n == -1 ? static_cast<int>(out.num_ctx) : static_cast<int>(v.repeat_last_n);
  if (v.seed >= 0) s.seed = static_cast<uint64_t>(v.seed);
  return out;
}

}  // namespace ollmlx::service
