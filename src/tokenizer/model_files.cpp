// Tokenizer::load: reads a model directory's tokenizer files and settles the generation facts
// mlx-lm derives from them: EOS ids (generation_config.json over config.json over the tokenizer's
// eos token), BOS, the special-token strings and tokenizer_config.json for chat templates.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mapped_file.h"

namespace ollmlx::tok {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::optional<std::string> read_optional(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error("tokenizer", "{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses an optional JSON object file; `lenient` ignores malformed JSON (as mlx-lm does for
// generation_config.json).
std::optional<json> read_json(const fs::path& path, bool lenient) {
  const auto text = read_optional(path);
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    if (lenient) return std::nullopt;
    throw_error("tokenizer", "{}: not a JSON object", path.string());
  }
  return j;
}

// A special-token entry: "<s>" or {"content": "<s>", ...}.
std::optional<std::string> token_string(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

// eos_token_id: int or list of ints (other entries ignored).
std::vector<int32_t> id_list(const json& v) {
  std::vector<int32_t> out;
  auto push = [&](const json& x) {
    if (x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() <= 0x7FFFFFFF) {
      const auto id = static_cast<int32_t>(x.get<int64_t>());
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
  };
  if (v.is_array()) {
    for (const json& x : v) push(x);
  } else {
    push(v);
  }
  return out;
}

// Python truthiness of a JSON value (mlx-lm: `if eos := generation_config.get(...)`).
bool truthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
  return true;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& model_dir) {
  const fs::path dir(model_dir);
  const fs::path tj = dir / "tokenizer.json";
  std::error_code ec;
  if (!fs::is_regular_file(tj, ec)) throw_error("tokenizer", "{}: no tokenizer.json", model_dir);
  std::unique_ptr<Tokenizer> tok;
  {
    const auto file = MappedFile::open(tj.string());
    try {
      tok = from_json(std::string_view(reinterpret_cast<const char*>(file->data()),
                                       file->size()));
    } catch (const Error& e) {
      std::string_view msg = e.what();
      const std::string_view prefix = "[tokenizer] ";
      if (msg.substr(0, prefix.size()) == prefix) msg.remove_prefix(prefix.size());
      throw Error(e.subsystem(), model_dir + "/" + std::string(msg));
    }
  }
  Impl& impl = *tok->impl_;
  for (const std::string& w : impl.warnings) log::warn("[tokenizer] {}: {}", model_dir, w);
  try {
    if (auto cfg = read_json(dir / "tokenizer_config.json", false)) impl.config = std::move(*cfg);
    const auto special_map = read_json(dir / "special_tokens_map.json", false);
    auto pick = [&](const char* key) -> std::string {
      if (special_map) {
        if (auto s = token_string(*special_map, key)) return *s;
      }
      return token_string(impl.config, key).value_or("");
    };
    impl.bos_token = pick("bos_token");
    impl.eos_token = pick("eos_token");
    impl.pad_token = pick("pad_token");
    impl.unk_token = pick("unk_token");
    for (auto [key, slot] : {std::pair{"add_bos_token", &impl.add_bos_token},
                             std::pair{"add_eos_token", &impl.add_eos_token}}) {
      const auto it = impl.config.find(key);
      if (it != impl.config.end() && it->is_boolean()) *slot = it->get<bool>();
    }

    // mlx-lm: config.json's eos_token_id, replaced by a truthy one from generation_config.json;
    // without either, the tokenizer's eos token.
    json eos_value;  // null
    const auto config = read_json(dir / "config.json", false);
    if (config && config->contains("eos_token_id")) eos_value = (*config)["eos_token_id"];
    if (const auto gen = read_json(dir / "generation_config.json", true)) {
      const auto it = gen->find("eos_token_id");
      if (it != gen->end() && truthy(*it)) eos_value = *it;
    }
    if (!eos_value.is_null()) {
      impl.eos_ids = id_list(eos_value);
    } else if (!impl.eos_token.empty()) {
      if (auto id = tok->token_to_id(impl.eos_token)) impl.eos_ids = {*id};
    }
    if (!impl.bos_token.empty()) {
      impl.bos_id = tok->token_to_id(impl.bos_token);
    } else if (config && config->contains("bos_token_id")) {
      const auto ids = id_list((*config)["bos_token_id"]);
      if (!ids.empty()) impl.bos_id = ids[0];
    }
  } catch (const nlohmann::json::exception& e) {
    throw_error("tokenizer", "{}: {}", model_dir, e.what());
  }
  return tok;
}

}  // namespace ollmlx::tok
