// ollmlx::tok::Tokenizer: Hugging Face tokenizer.json models run in C++ with the same ids and
// decoded strings as the `tokenizers` library (normalizer -> pre-tokenizer -> BPE model ->
// post-processor; decoder for the way back), plus the model-directory facts generation needs
// (EOS ids by mlx-lm's rule, BOS, tokenizer_config.json for chat templates).
//
// Usage:
//   auto tok = ollmlx::tok::Tokenizer::load("/models/llama3");     // throws ollmlx::Error
//   std::vector<int32_t> ids = tok->encode("Hello");                // with BOS (post-processor)
//   std::string text = tok->decode(ids, /*skip_special_tokens=*/true);
// Streaming output during generation: see stream_decoder.h (StreamDecoder, StopMatcher).
//
// A Tokenizer is immutable after loading; encode/decode may run concurrently from any threads.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::tok {

class StreamDecoder;

class Tokenizer {
 public:
  // Loads a model directory: tokenizer.json (required), tokenizer_config.json,
  // special_tokens_map.json, config.json and generation_config.json (all optional).
  static std::unique_ptr<Tokenizer> load(const std::string& model_dir);
  // Builds from the text of a tokenizer.json alone (no EOS/BOS config beyond what it implies).
  static std::unique_ptr<Tokenizer> from_json(std::string_view tokenizer_json);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text`. add_special_tokens applies the post-processor (e.g. BOS).
  // parse_special: special-token text in the input (e.g. "<|im_start|>") becomes that token;
  // false treats it as plain text (HF split_special_tokens=True); chat templates parse them,
  // raw user text need not. Invalid UTF-8 in `text` is replaced by U+FFFD first.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true,
                              bool parse_special = true) const;
  // Text of `ids` through the decoder; unknown ids are skipped (as HF does).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  std::string id_to_token(int32_t id) const;  // raw piece ("Ġthe", "▁the"); "" if unknown
  std::optional<int32_t> token_to_id(std::string_view token) const;
  int32_t vocab_size() const;  // max id + 1, added tokens included
  bool is_special(int32_t id) const;

  // Generation stop ids, mlx-lm's rule: generation_config.json's eos_token_id (int or list)
  // overrides config.json's; else the tokenizer's eos token. May be empty.
  const std::vector<int32_t>& eos_ids() const;
  std::optional<int32_t> bos_id() const;
  // Special-token strings for chat templates (tokenizer_config.json / special_tokens_map.json;
  // "" when not set).
  std::string bos_token() const;
  std::string eos_token() const;
  std::string pad_token() const;
  std::string unk_token() const;
  // tokenizer_config.json's add_bos_token / add_eos_token when present.
  std::optional<bool> add_bos_token() const;
  std::optional<bool> add_eos_token() const;
  // The raw tokenizer_config.json (an empty object when absent); chat_template lives here.
  const nlohmann::json& tokenizer_config() const;
  // Load-time notes (e.g. an added token whose id differs from the file's).
  const std::vector<std::string>& warnings() const;

  struct Impl;  // internal (tokenizer_impl.h)

 private:
  friend class StreamDecoder;
  Tokenizer();
  std::unique_ptr<Impl> impl_;
};

}  // namespace ollmlx::tok
