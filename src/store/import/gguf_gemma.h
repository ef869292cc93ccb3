// The Gemma-specific part of config.json for a gemma2 / gemma3 GGUF (reference §5.2; the facts
// tools/make_gemma3_golden.py documents). Internal to src/store/import.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "store/import/gguf_meta.h"

namespace ollmlx::gguf {

// model_type and architectures (gemma3_text / gemma2), hidden_activation, sliding_window,
// query_pre_attn_scalar, and for gemma3 rope_local_base_freq and sliding_window_pattern, for
// gemma2 the soft-caps. Throws Error("gguf", ...) for values the model code cannot run.
nlohmann::ordered_json gemma_config(const Meta& meta, bool gemma3, int64_t n_layers, int64_t hidden,
                                    int64_t n_head, int64_t head_dim);

}  // namespace ollmlx::gguf
