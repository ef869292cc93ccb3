// libFuzzer target for the chat-template engine: any byte string is a possible template. It
// must parse and render (with a small conversation and tight limits) or throw TemplateError;
// any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

#include "template/jinja.h"

namespace {

const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi \u00e9\u65e5"}]},
      {"role": "assistant", "content": "",
       "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1.5}}}]},
      {"role": "tool", "content": "ok"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "documents": null, "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "enable_thinking": false})");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ollmlx::tmpl::RenderOptions options;
  options.max_output_bytes = 1 << 20;
  options.max_steps = 200000;
  options.now = [] {
    std::tm t{};
    t.tm_year = 124;
    t.tm_mday = 1;
    return t;
  };
  try {
    const auto t =
        ollmlx::tmpl::Template::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)t.render(context(), options);
  } catch (const ollmlx::tmpl::TemplateError&) {
    // Rejected cleanly: the expected outcome for most inputs.
  }
  return 0;
}
