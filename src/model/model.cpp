// Architecture registry: config.json "model_type" -> the architecture file that runs it.
#include "model/model.h"

#include <functional>
#include <map>

#include "format/model_dir.h"
#include "model/arch/arch.h"
#include "util/error.h"

namespace ollmlx {
namespace {

using Factory = std::function<std::unique_ptr<Model>(const format::ModelDir&, Backend&, const ModelOptions&)>;

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> r = {
      {"llama", arch::make_llama},
      {"mistral", arch::make_llama},  // mlx-lm maps mistral onto its llama code
      {"qwen2", arch::make_qwen2},
      {"qwen3", arch::make_qwen3},
      {"phi3", arch::make_phi3},
      {"gemma2", arch::make_gemma2},
      {"gemma3_text", arch::make_gemma3_text},
      {"gemma3", arch::make_gemma3},
  };
  return r;
}

}  // namespace

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const auto& [name, _] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<Model> load_model(const std::string& dir, Backend& backend, const ModelOptions& options) {
  format::ModelDir md = format::ModelDir::open(dir);
  auto it = registry().find(md.model_type());
  if (it == registry().end())
    throw_error("model", "{}: architecture '{}' is not supported (supported: {})", dir,
                md.model_type(), fmt::join(supported_architectures(), ", "));
  return it->second(md, backend, options);
}

namespace arch {
std::string describe_quantization(const format::ModelDir& dir) {
  const auto& q = dir.quant();
  if (!q.base) {
    const auto& cfg = dir.config();
    if (cfg.contains("torch_dtype") && cfg["torch_dtype"].is_string()) return cfg["torch_dtype"].get<std::string>();
    return "unquantized";
  }
  std::string s = quant_str(*q.base);
  if (!q.per_path.empty()) s += " (mixed)";
  return s;
}
}  // namespace arch

}  // namespace ollmlx
