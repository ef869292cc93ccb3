#include "engine/prompt.h"

#include "util/error.h"

namespace ollmlx {

TextModel TextModel::load(const std::string& model_dir) {
  TextModel m;
  m.tokenizer = tok::Tokenizer::load(model_dir);
  m.templates = tmpl::load_chat_templates(model_dir);
  return m;
}

std::string TextModel::render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                              bool add_generation_prompt, const nlohmann::ordered_json& extra_kwargs) const {
  if (templates.empty())
    throw_error("prompt", "this model has no chat template (tokenizer_config.json or chat_template.jinja)");
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();
  if (!tokenizer->bos_token().empty()) kwargs["bos_token"] = tokenizer->bos_token();
  if (!tokenizer->eos_token().empty()) kwargs["eos_token"] = tokenizer->eos_token();
  if (extra_kwargs.is_object())
    for (const auto& [k, v] : extra_kwargs.items()) kwargs[k] = v;
  return tmpl::render_chat(templates, messages, tools, add_generation_prompt, kwargs);
}

std::vector<int32_t> TextModel::chat_tokens(const nlohmann::ordered_json& messages,
                                            const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                            const nlohmann::ordered_json& extra_kwargs) const {
  const std::string text = render(messages, tools, add_generation_prompt, extra_kwargs);
  return tokenizer->encode(text, /*add_special_tokens=*/false, /*parse_special=*/true);
}

std::vector<int32_t> TextModel::raw_tokens(const std::string& text) const {
  const std::string bos = tokenizer->bos_token();
  const bool has_bos = !bos.empty() && text.rfind(bos, 0) == 0;
  return tokenizer->encode(text, /*add_special_tokens=*/!has_bos, /*parse_special=*/true);
}

}  // namespace ollmlx
