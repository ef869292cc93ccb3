// What /api/tags, /api/show and /api/ps report about a model directory without loading it:
// architecture, parameter count (from the safetensors headers, quantized tensors counted at
// their unpacked size), details (family, parameter_size "134.52M", quantization_level) and
// Ollama's synthesised model_info for safetensors models.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "api/service.h"

namespace ollmlx::service {

struct ModelFacts {
  std::string architecture;
  int64_t parameter_count = 0;
  int64_t context_length = 0;
  api::ModelDetails details;
  nlohmann::ordered_json model_info = nlohmann::ordered_json::object();
  std::vector<std::string> capabilities;  // what this build can do with the model
};

// Throws ollmlx::Error on an unreadable directory.
ModelFacts read_model_facts(const std::string& dir);

// Ollama's HumanNumber: 134520000 -> "134.52M", 1235000000 -> "1.2B".
std::string human_number(int64_t n);

}  // namespace ollmlx::service
