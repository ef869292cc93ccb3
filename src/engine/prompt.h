// Turning requests into prompt tokens the way mlx-lm does: a conversation goes through the
// model's chat template (transformers' apply_chat_template, tokenize=False) and is then encoded
// without adding special tokens (the template supplies BOS) while parsing special-token text; a
// raw prompt gets the tokenizer's special tokens unless it already starts with the BOS text.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "template/chat.h"
#include "tokenizer/tokenizer.h"

namespace ollmlx {

// The tokenizer and chat templates of one model directory.
struct TextModel {
  std::unique_ptr<tok::Tokenizer> tokenizer;
  tmpl::ChatTemplates templates;

  static TextModel load(const std::string& model_dir);
  // The rendered prompt text (for `ollmlx render` and _debug_render_only).
  std::string render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                     bool add_generation_prompt,
                     const nlohmann::ordered_json& extra_kwargs = nlohmann::ordered_json()) const;
  std::vector<int32_t> chat_tokens(const nlohmann::ordered_json& messages,
                                   const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                   const nlohmann::ordered_json& extra_kwargs = nlohmann::ordered_json()) const;
  std::vector<int32_t> raw_tokens(const std::string& text) const;
};

}  // namespace ollmlx
