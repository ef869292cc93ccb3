// An MLX model directory as mlx-lm writes it: config.json (with the "quantization" block),
// model.safetensors or shards model-0000k-of-0000N.safetensors (+ model.safetensors.index.json),
// tokenizer files. This layer reads and validates files; it knows no architecture.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/linear.h"
#include "format/safetensors.h"

namespace ollmlx::format {

// All weight tensors of a model directory, across shards.
class WeightSet {
 public:
  // Opens `dir`: if model.safetensors.index.json exists, its weight_map names the shards (each
  // must exist inside dir; a tensor listed there must be in that shard); otherwise every
  // model*.safetensors file in dir. A tensor name present in two shards is an error.
  static WeightSet open(const std::string& dir);

  bool contains(const std::string& name) const;
  // Tensor view; throws Error("weights", "<dir>: missing tensor '<name>'") if absent.
  Tensor get(const std::string& name) const;
  // Same, also checking the shape: throws naming the file and tensor on mismatch.
  Tensor get(const std::string& name, const Shape& shape) const;
  // Same, also requiring a float dtype (F32/F16/BF16/F64), e.g. for norm weights.
  Tensor get_float(const std::string& name, const Shape& shape) const;
  std::vector<std::string> names() const;  // sorted
  uint64_t total_bytes() const;            // sum of tensor sizes
  const std::string& dir() const { return dir_; }
  // Hints the kernel to read all tensor data ahead (first-token latency).
  void prefetch() const;

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, const TensorEntry*>> index_;  // name -> (file, entry)
};

// MLX's "quantization" block: {"group_size": 64, "bits": 4, "mode": "affine",
//   "<module path>": {"group_size":..,"bits":..,"mode":..} | false, ...}.
// Falls back to "quantization_config" when "quantization" is absent. Missing "mode" = affine.
struct QuantConfig {
  std::optional<QuantSpec> base;
  // Per-module overrides; nullopt value = `false` (the module is not quantized).
  std::map<std::string, std::optional<QuantSpec>> per_path;

  static QuantConfig parse(const nlohmann::json& config, const std::string& display_name);
  // Override for `path` if listed (nullopt inside = not quantized), else `base`.
  std::optional<QuantSpec> spec_for(const std::string& path) const;
};

class ModelDir {
 public:
  // Reads dir/config.json (must be a JSON object with a string "model_type") and the weights.
  static ModelDir open(const std::string& dir);

  const std::string& path() const { return path_; }
  const nlohmann::json& config() const { return config_; }
  const std::string& model_type() const { return model_type_; }
  const QuantConfig& quant() const { return quant_; }
  const WeightSet& weights() const { return weights_; }

  // Loads the linear (or embedding) module `path` expected to be [out, in]. Quantized iff
  // "<path>.scales" exists (MLX's rule); its spec comes from quant().spec_for(path). Loads the
  // optional "<path>.bias". Validates everything (validate_linear). Throws Error("weights").
  Linear linear(const std::string& path, int64_t out, int64_t in) const;
  bool has_module(const std::string& path) const;  // "<path>.weight" exists

 private:
  std::string path_;
  nlohmann::json config_;
  std::string model_type_;
  QuantConfig quant_;
  WeightSet weights_;
};

// Typed config.json accessors with clear errors: "[config] <file>: field 'x' must be an integer".
int64_t config_int(const nlohmann::json& cfg, const char* key, const std::string& file);
int64_t config_int(const nlohmann::json& cfg, const char* key, int64_t fallback, const std::string& file);
double config_float(const nlohmann::json& cfg, const char* key, double fallback, const std::string& file);
bool config_bool(const nlohmann::json& cfg, const char* key, bool fallback, const std::string& file);

}  // namespace ollmlx::format
