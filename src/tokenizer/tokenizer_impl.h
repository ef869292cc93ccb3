// The internals of Tokenizer shared by tokenizer.cpp (pipeline) and model_files.cpp (model
// directory loading).
#pragma once

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace ollmlx::tok {

struct Tokenizer::Impl {
  NormalizerChain normalizer;
  PreTokenizerChain pre_tokenizer;
  std::unique_ptr<Model> model;
  AddedVocabulary added;
  PostProcessorChain post_processor;
  DecoderChain decoder;

  // id -> piece (added tokens take precedence over the model vocab, as in HF id_to_token).
  std::vector<std::string> pieces;
  std::vector<uint8_t> flags;  // kKnown | kSpecial
  static constexpr uint8_t kKnown = 1, kSpecial = 2;

  nlohmann::json config = nlohmann::json::object();  // tokenizer_config.json
  std::vector<int32_t> eos_ids;
  std::optional<int32_t> bos_id;
  std::string bos_token, eos_token, pad_token, unk_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::vector<std::string> warnings;
};

}  // namespace ollmlx::tok
