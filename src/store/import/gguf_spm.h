// SentencePiece BPE vocabularies in GGUF files (tokenizer.ggml.model "llama": Gemma 2/3,
// Llama 2, Mistral) rebuilt as a Hugging Face tokenizer.json BPE model, the way transformers
// converts a SentencePiece model (reference §6.2): byte fallback, merges derived from the
// vocabulary and its scores, " " -> "▁" normalization. Internal to src/store/import; used by
// gguf_tokenizer.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/import/gguf_meta.h"

namespace ollmlx::gguf {

// llama.cpp's converter writes USER_DEFINED tokens "pre-normalized", with SentencePiece's "▁"
// replaced by " " (Gemma's whitespace-run tokens); the original spelling has "▁" again.
std::string spm_respell_user_defined(std::string_view token);

// The merges of the vocabulary as (left id, right id): every split of a token into two tokens
// of the vocabulary (ids from `vocab`), within a token ordered by (left id, right id), all
// ordered by the token's score (descending), then by the pieces' lengths in characters
// (longer left, then longer right first), stable. CONTROL and USER_DEFINED tokens (types 3, 4)
// score 0, as in the SentencePiece model (llama.cpp writes -1000 for them). Scores come from
// tokenizer.ggml.scores (all 0 without it); a NaN or a count other than the tokens' is refused.
std::vector<std::pair<int64_t, int64_t>> spm_merges(
    const Meta& meta, const std::vector<std::string_view>& tokens, const std::vector<int64_t>& types,
    const std::unordered_map<std::string_view, int64_t>& vocab);

// The tokenizer.json parts of a SentencePiece tokenizer: the normalizer (Prepend "▁" when
// add_space_prefix, Replace " " -> "▁") and the decoder (Replace "▁" -> " ", ByteFallback,
// Fuse, and Strip of the first space when add_space_prefix).
nlohmann::ordered_json spm_normalizer(bool add_space_prefix);
nlohmann::ordered_json spm_decoder(bool add_space_prefix);

}  // namespace ollmlx::gguf
