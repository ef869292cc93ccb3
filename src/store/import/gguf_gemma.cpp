// config.json keys of imported Gemma 2 / Gemma 3 GGUFs (gguf_gemma.h), from what llama.cpp
// stores and the values it hard-codes:
//  * query_pre_attn_scalar is not stored: llama.cpp uses hidden/heads for the 27B models (46
//    layers for Gemma 2, 62 for Gemma 3) and head_dim otherwise -- as their HF configs say;
//  * Gemma 3: layer i slides iff i % pattern < pattern - 1 (the config's sliding_window_pattern),
//    pattern 6 unless attention.sliding_window_pattern says otherwise (a number, or Ollama's
//    per-layer booleans, which must then follow one period); the local RoPE base is 10000
//    (llama.cpp's constant) unless the file carries rope.local.freq_base / rope.freq_base_swa;
//  * Gemma 2: soft-caps from attn_logit_softcapping / final_logit_softcapping (50 / 30).
#include "store/import/gguf_gemma.h"

#include <cmath>

namespace ollmlx::gguf {

nlohmann::ordered_json gemma_config(const Meta& meta, bool gemma3, int64_t n_layers, int64_t hidden,
                                    int64_t n_head, int64_t head_dim) {
  using OJson = nlohmann::ordered_json;
  const std::string A = gemma3 ? "gemma3." : "gemma2.";
  OJson c;
  c["architectures"] = OJson::array({gemma3 ? "Gemma3ForCausalLM" : "Gemma2ForCausalLM"});
  c["model_type"] = gemma3 ? "gemma3_text" : "gemma2";
  c["hidden_activation"] = "gelu_pytorch_tanh";
  const bool big = n_layers == (gemma3 ? 62 : 46);
  c["query_pre_attn_scalar"] = big ? hidden / n_head : head_dim;
  const int64_t window = meta.opt_int(A + "attention.sliding_window").value_or(gemma3 ? 512 : 4096);
  if (window <= 0 || window > (int64_t{1} << 30)) meta.fail("implausible attention.sliding_window {}", window);
  c["sliding_window"] = window;
  if (!gemma3) {
    for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"}) {
      const double cap = meta.opt_float(A + key, key[0] == 'a' ? 50.0 : 30.0);
      if (!(cap > 0) || !std::isfinite(cap)) meta.fail("{}{} must be positive, not {}", A, key, cap);
      c[key] = cap;
    }
    return c;
  }
  double local_base = 10000.0;
  for (const char* key : {"rope.local.freq_base", "rope.freq_base_swa"})
    if (meta.get(A + key)) local_base = meta.opt_float(A + key, local_base);
  if (!(local_base > 0) || !std::isfinite(local_base)) meta.fail("implausible local RoPE base {}", local_base);
  c["rope_local_base_freq"] = local_base;
  int64_t pattern = 6;
  if (const Value* v = meta.get(A + "attention.sliding_window_pattern")) {
    if (!v->is_array()) {
      pattern = meta.as_int(A + "attention.sliding_window_pattern", *v);
    } else {  // per-layer: true = sliding; must be (i + 1) % p != 0 for one period p
      if (v->is_string_array() || static_cast<int64_t>(v->numbers.size()) != n_layers)
        meta.fail("{}attention.sliding_window_pattern must have one boolean per layer", A);
      pattern = 0;
      for (int64_t i = 0; i < n_layers && !pattern; ++i)
        if (v->numbers[static_cast<size_t>(i)] == 0) pattern = i + 1;
      if (!pattern) pattern = n_layers + 1;  // no global layer
      for (int64_t i = 0; i < n_layers; ++i)
        if ((v->numbers[static_cast<size_t>(i)] != 0) != ((i + 1) % pattern != 0))
          meta.fail("{}attention.sliding_window_pattern is not periodic (layer {}): not supported", A, i);
    }
  }
  if (pattern <= 0 || pattern > (int64_t{1} << 20)) meta.fail("implausible sliding_window_pattern {}", pattern);
  c["sliding_window_pattern"] = pattern;
  return c;
}

}  // namespace ollmlx::gguf
