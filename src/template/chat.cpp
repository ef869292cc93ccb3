// Loading a model's chat templates and rendering conversations (see chat.h), mirroring
// transformers' tokenizer loading, get_chat_template() and apply_chat_template().
#include "template/chat.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace ollmlx::tmpl {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

namespace {

constexpr uintmax_t kMaxFileBytes = uintmax_t{64} << 20;

std::string read_file(const fs::path& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw_error("template", "{}: cannot read: {}", path.string(), ec.message());
  if (size > kMaxFileBytes)
    throw_error("template", "{}: file too large ({} bytes)", path.string(), size);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error("template", "{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool read_json(const fs::path& path, ordered_json& out) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  const std::string text = read_file(path);
  try {
    out = ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw_error("template", "{}: invalid JSON: {}", path.string(), e.what());
  }
  return true;
}

// transformers' _normalize_chat_messages + _alias_reasoning_fields.
ordered_json normalize_messages(const ordered_json& messages) {
  if (!messages.is_array()) {
    throw TemplateError(TemplateError::Kind::Type, 0, 0, "chat messages must be a JSON array");
  }
  ordered_json out = ordered_json::array();
  for (const auto& m : messages) {
    if (!m.is_object()) {
      throw TemplateError(TemplateError::Kind::Type, 0, 0,
                          "Chat messages should be dicts, but got " + m.dump());
    }
    ordered_json msg = ordered_json::object();
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!it.value().is_null()) msg[it.key()] = it.value();
    }
    const ordered_json* reasoning = nullptr;
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      auto it = msg.find(key);
      if (it != msg.end()) {
        reasoning = &*it;
        break;
      }
    }
    if (reasoning) {
      // {"thinking": reasoning, **message, "reasoning_content": reasoning}
      const ordered_json r = *reasoning;
      ordered_json aliased = ordered_json::object();
      aliased["thinking"] = r;
      for (auto it = msg.begin(); it != msg.end(); ++it) aliased[it.key()] = it.value();
      aliased["reasoning_content"] = r;
      msg = std::move(aliased);
    }
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

void ChatTemplates::add(const std::string& name, std::string source) {
  parsed_.erase(name);
  errors_.erase(name);
  try {
    parsed_[name] = std::make_shared<const Template>(Template::parse(source));
  } catch (const TemplateError& e) {
    errors_[name] = std::make_shared<const TemplateError>(e);
  }
  sources[name] = std::move(source);
}

const std::string& ChatTemplates::select(bool has_tools) const {
  if (sources.empty()) throw_error("template", "the model has no chat template");
  if (has_tools) {
    if (auto it = sources.find("tool_use"); it != sources.end()) return it->first;
  }
  if (auto it = sources.find("default"); it != sources.end()) return it->first;
  std::string names;
  for (const auto& [name, src] : sources) names += (names.empty() ? "'" : ", '") + name + "'";
  throw_error("template",
              "this model has multiple chat templates with no default specified; available "
              "template names are [{}]",
              names);
}

const Template& ChatTemplates::get(const std::string& name) const {
  if (auto it = errors_.find(name); it != errors_.end()) throw *it->second;
  auto it = parsed_.find(name);
  if (it == parsed_.end()) throw_error("template", "no chat template named '{}'", name);
  return *it->second;
}

ChatTemplates load_chat_templates(const std::string& model_dir) {
  const fs::path dir(model_dir);
  ChatTemplates t;
  std::error_code ec;

  ordered_json config;
  const bool have_config = read_json(dir / "tokenizer_config.json", config) && config.is_object();
  if (have_config) {
    for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                            "cls_token", "mask_token"}) {
      auto it = config.find(key);
      if (it == config.end()) continue;
      if (it->is_string()) {
        t.special_tokens[key] = *it;
      } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
        t.special_tokens[key] = (*it)["content"];
      }
    }
  }

  // Standalone template files take priority over the tokenizer config.
  bool from_files = false;
  if (fs::is_regular_file(dir / "chat_template.jinja", ec)) {
    t.add("default", read_file(dir / "chat_template.jinja"));
    from_files = true;
  }
  const fs::path extra = dir / "additional_chat_templates";
  if (fs::is_directory(extra, ec)) {
    for (const auto& entry : fs::directory_iterator(extra, ec)) {
      if (entry.is_regular_file(ec) && entry.path().extension() == ".jinja") {
        t.add(entry.path().stem().string(), read_file(entry.path()));
        from_files = true;
      }
    }
  }
  if (!from_files && have_config && config.contains("chat_template")) {
    const ordered_json& ct = config["chat_template"];
    if (ct.is_string()) {
      t.add("default", ct.get<std::string>());
    } else if (ct.is_array()) {
      for (const auto& entry : ct) {
        if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
            !entry["name"].is_string() || !entry["template"].is_string()) {
          throw_error("template",
                      "{}: chat_template list entries need string 'name' and 'template'",
                      (dir / "tokenizer_config.json").string());
        }
        t.add(entry["name"].get<std::string>(), entry["template"].get<std::string>());
      }
    } else if (!ct.is_null()) {
      throw_error("template", "{}: chat_template must be a string or a list",
                  (dir / "tokenizer_config.json").string());
    }
  }
  if (t.empty()) {
    ordered_json processor;
    if (read_json(dir / "chat_template.json", processor) && processor.is_object() &&
        processor.contains("chat_template") && processor["chat_template"].is_string()) {
      t.add("default", processor["chat_template"].get<std::string>());
    }
  }
  return t;
}

std::string render_chat_source(const Template& tmpl, const ordered_json& messages,
                               const ordered_json& tools, bool add_generation_prompt,
                               const ordered_json& extra_kwargs, const RenderOptions& options) {
  ordered_json ctx = ordered_json::object();
  ctx["messages"] = normalize_messages(messages);
  ctx["tools"] = tools;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = add_generation_prompt;
  if (extra_kwargs.is_object()) {
    for (auto it = extra_kwargs.begin(); it != extra_kwargs.end(); ++it) {
      if (it.key() == "messages" || it.key() == "tools" || it.key() == "add_generation_prompt")
        continue;
      ctx[it.key()] = it.value();
    }
  } else if (!extra_kwargs.is_null()) {
    throw TemplateError(TemplateError::Kind::Type, 0, 0,
                        "extra template arguments must be a JSON object");
  }
  return tmpl.render(ctx, options);
}

std::string render_chat(const ChatTemplates& templates, const ordered_json& messages,
                        const ordered_json& tools, bool add_generation_prompt,
                        const ordered_json& extra_kwargs, const RenderOptions& options) {
  const Template& tmpl = templates.get(templates.select(!tools.is_null()));
  ordered_json kwargs = templates.special_tokens;
  if (extra_kwargs.is_object()) {
    for (auto it = extra_kwargs.begin(); it != extra_kwargs.end(); ++it)
      kwargs[it.key()] = it.value();
  } else if (!extra_kwargs.is_null()) {
    throw TemplateError(TemplateError::Kind::Type, 0, 0,
                        "extra template arguments must be a JSON object");
  }
  return render_chat_source(tmpl, messages, tools, add_generation_prompt, kwargs, options);
}

}  // namespace ollmlx::tmpl
