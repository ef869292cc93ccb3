// Ollama's option resolution (spec §2): built-in defaults < the model's Modelfile PARAMETERs <
// the request's `options`, validated (NaN, negative or absurd values are a 400, naming the
// option) and turned into sampler settings and generation limits.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "api/service.h"
#include "sample/sampler.h"
#include "service/residency.h"

namespace ollmlx::service {

struct ResolvedOptions {
  SamplerParams sampling;
  int64_t num_ctx = 4096;     // context per request (capped by the model's loaded context)
  int64_t num_predict = -1;   // -1/-2: until the context is full
  std::vector<std::string> stop;
};

// `model_params`: the Modelfile layer ({"parameters": {...}} or the object itself); `model_context`:
// positions the loaded runner allows. Throws ApiError(400) on invalid values.
ResolvedOptions resolve_options(const api::Options& request, const nlohmann::ordered_json& modelfile,
                                const ResidencyConfig& config, int64_t model_context);

}  // namespace ollmlx::service
