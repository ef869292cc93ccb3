// Chat templates of a model directory and rendering a conversation through them, as
// transformers' apply_chat_template(tokenize=False) does.
//
// Loading follows transformers' tokenizer: chat_template.jinja (the "default" template) and
// additional_chat_templates/<name>.jinja win over tokenizer_config.json's "chat_template",
// which is either one template string or a list of {"name", "template"}; chat_template.json
// (processor format) is a last fallback. With several templates, "tool_use" is chosen when
// tools are passed and it exists, else "default".
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "template/jinja.h"

namespace ollmlx::tmpl {

struct ChatTemplates {
  // Template name -> source ("default" for a single template).
  std::map<std::string, std::string> sources;
  // Special tokens from tokenizer_config.json (bos_token, eos_token, ...), passed to every
  // render like transformers' special_tokens_map; render_chat's extra kwargs override them.
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();

  bool empty() const { return sources.empty(); }
  // Adds (or replaces) a template and parses it; a syntax error is kept and reported when
  // the template is used, as transformers reports it when rendering.
  void add(const std::string& name, std::string source);
  // The name transformers' get_chat_template() would pick; throws ollmlx::Error when there
  // is none.
  const std::string& select(bool has_tools) const;
  // The parsed template of that name; throws its TemplateError if it did not parse.
  const Template& get(const std::string& name) const;

 private:
  std::map<std::string, std::shared_ptr<const Template>> parsed_;
  std::map<std::string, std::shared_ptr<const TemplateError>> errors_;
};

// Reads a model directory's chat templates; an empty result when it has none. Throws
// ollmlx::Error for unreadable or malformed files.
ChatTemplates load_chat_templates(const std::string& model_dir);

// Renders `messages` (a JSON array of message objects). `tools` is null for no tools (the
// template then sees None), else an array of tool schemas. `extra_kwargs` (an object or null)
// adds template variables: bos_token, eos_token, enable_thinking, documents, ...
// Messages are normalized as transformers does (keys whose value is null are dropped,
// reasoning_content/thinking/reasoning aliased). Throws TemplateError.
std::string render_chat(const ChatTemplates& templates, const nlohmann::ordered_json& messages,
                        const nlohmann::ordered_json& tools, bool add_generation_prompt,
                        const nlohmann::ordered_json& extra_kwargs,
                        const RenderOptions& options = {});

// Renders one template source with the same conversation handling as render_chat.
std::string render_chat_source(const Template& tmpl, const nlohmann::ordered_json& messages,
                               const nlohmann::ordered_json& tools, bool add_generation_prompt,
                               const nlohmann::ordered_json& extra_kwargs,
                               const RenderOptions& options = {});

}  // namespace ollmlx::tmpl
