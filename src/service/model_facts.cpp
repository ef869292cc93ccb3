#include "service/model_facts.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "format/model_dir.h"
#include "model/model.h"

namespace ollmlx::service {

std::string human_number(int64_t n) {
  const double v = static_cast<double>(n);
  auto fmt_unit = [](double x, const char* unit) {
    std::string s = fmt::format("{:.2f}", x);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s + unit;
  };
  if (v >= 1e12) return fmt_unit(v / 1e12, "T");
  if (v >= 1e9) return fmt_unit(v / 1e9, "B");
  if (v >= 1e6) return fmt_unit(v / 1e6, "M");
  if (v >= 1e3) return fmt_unit(v / 1e3, "K");
  return std::to_string(n);
}

namespace {

std::string quant_level(const format::ModelDir& md) {
  const auto& q = md.quant();
  if (!q.base) {
    const auto& cfg = md.config();
    std::string t = cfg.contains("torch_dtype") && cfg["torch_dtype"].is_string() ? cfg["torch_dtype"].get<std::string>() : "";
    if (t == "bfloat16") return "BF16";
    if (t == "float16") return "F16";
    if (t == "float32") return "F32";
    return t.empty() ? "unknown" : t;
  }
  std::string s;
  switch (q.base->mode) {
    case QuantMode::Affine:
      s = fmt::format("INT{}", q.base->bits);
      break;
    case QuantMode::MxFp4:
      s = "MXFP4";
      break;
    case QuantMode::MxFp8:
      s = "MXFP8";
      break;
    case QuantMode::NvFp4:
      s = "NVFP4";
      break;
    default:
      s = "unknown";
  }
  return q.per_path.empty() ? s : s + "-mixed";
}

}  // namespace

ModelFacts read_model_facts(const std::string& dir) {
  format::ModelDir md = format::ModelDir::open(dir);
  ModelFacts f;
  const auto& cfg = md.config();
  f.architecture = md.model_type();
  // Parameters: every tensor but quantization scales/biases; packed tensors at unpacked size.
  const auto& ws = md.weights();
  for (const std::string& name : ws.names()) {
    auto ends = [&](const char* suffix) {
      const std::string s(suffix);
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    if (ends(".scales") || ends(".biases")) continue;
    Tensor t = ws.get(name);
    int64_t n = t.numel();
    if (ends(".weight") && t.dtype == DType::U32) {
      const std::string path = name.substr(0, name.size() - 7);
      if (ws.contains(path + ".scales")) {
        auto spec = md.quant().spec_for(path);
        if (spec && spec->bits > 0) n = n * 32 / spec->bits;
      }
    }
    f.parameter_count += n;
  }
  // Multimodal wrappers (gemma3) keep the language model's settings under text_config; its keys
  // win over the wrapper's, except vocab_size, which the wrapper overrides (as mlx-lm does).
  const nlohmann::json* text = cfg.contains("text_config") && cfg["text_config"].is_object() ? &cfg["text_config"] : nullptr;
  auto text_value = [&](const char* key) -> const nlohmann::json* {
    if (text && text->contains(key) && std::string(key) != "vocab_size") return &(*text)[key];
    if (cfg.contains(key)) return &cfg[key];
    if (text && text->contains(key)) return &(*text)[key];
    return nullptr;
  };
  auto text_int = [&](const char* key) -> int64_t {
    const nlohmann::json* v = text_value(key);
    return v && v->is_number_integer() ? v->get<int64_t>() : 0;
  };
  f.context_length = text_int("max_position_embeddings");
  f.details.format = "safetensors";
  f.details.family = f.architecture;
  f.details.families = {f.architecture};
  f.details.parameter_size = human_number(f.parameter_count);
  f.details.quantization_level = quant_level(md);

  const std::string a = f.architecture;
  auto& mi = f.model_info;
  mi["general.architecture"] = a;
  mi["general.parameter_count"] = f.parameter_count;
  mi["general.file_type"] = f.details.quantization_level;
  const std::pair<const char*, const char*> keys[] = {
      {"context_length", "max_position_embeddings"}, {"embedding_length", "hidden_size"},
      {"block_count", "num_hidden_layers"},          {"attention.head_count", "num_attention_heads"},
      {"attention.head_count_kv", "num_key_value_heads"}, {"feed_forward_length", "intermediate_size"},
      {"vocab_size", "vocab_size"}};
  for (const auto& [ollama_key, config_key] : keys)
    if (int64_t v = text_int(config_key)) mi[a + "." + ollama_key] = v;
  if (const nlohmann::json* v = text_value("rope_theta"); v && v->is_number())
    mi[a + ".rope.freq_base"] = v->get<double>();
  if (const nlohmann::json* v = text_value("rms_norm_eps"); v && v->is_number())
    mi[a + ".attention.layer_norm_rms_epsilon"] = v->get<double>();

  const auto archs = supported_architectures();
  if (std::find(archs.begin(), archs.end(), a) != archs.end()) f.capabilities.push_back("completion");
  return f;
}

}  // namespace ollmlx::service
