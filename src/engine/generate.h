// Single-sequence generation on a loaded model: chunked prefill of the prompt, then decoding
// token by token, as mlx-lm's generate_step does it (the prompt's last token is run on its own
// and yields the first sampled token). The server's batching scheduler builds on the same
// forward batches.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model.h"
#include "sample/sampler.h"

namespace ollmlx {

struct GenerateOptions {
  int max_tokens = 128;
  int prefill_chunk = 512;
  std::vector<int32_t> stop_ids;  // generation stops after emitting one of these (not included)
  // Plain greedy sampling on a backend that supports it (Backend::supports_pipelined_decode):
  // step N+1 is submitted on step N's ids before those are read (mlx-lm's async_eval loop). The
  // tokens and the cache's final length are the same either way.
  bool pipeline = true;
};

struct GenerateResult {
  std::vector<int32_t> tokens;   // generated tokens (stop token excluded)
  std::string done_reason;       // "stop" or "length"
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;    // until the first token's logits
  double decode_seconds = 0;     // the remaining steps
};

// Runs `tokens` through the model for sequence `slot`, in chunks of at most `chunk` rows,
// starting at the end of the slot's cached history. If `all_logits` is given, it receives the
// logits of every row ([tokens.size(), vocab]); otherwise only the last row's are computed and
// returned in `last`.
void prefill(Model& model, KvCache& cache, int slot, const std::vector<int32_t>& tokens, int chunk,
             Logits* all_logits, Logits* last);

// Generates up to opt.max_tokens tokens after `prompt` (slot must be empty). `on_token` is called
// for every generated token; returning false stops generation ("stop").
GenerateResult generate(Model& model, KvCache& cache, int slot, const std::vector<int32_t>& prompt,
                        Sampler& sampler, const GenerateOptions& opt,
                        const std::function<bool(int32_t)>& on_token = {});

}  // namespace ollmlx
