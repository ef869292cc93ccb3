#include "engine/generate.h"

#include <algorithm>
#include <chrono>

#include "util/error.h"

namespace ollmlx {
namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

ForwardBatch single_batch(int slot, int32_t pos0, const int32_t* tokens, int32_t n, bool all_logits) {
  ForwardBatch b;
  b.tokens.assign(tokens, tokens + n);
  b.layout.seqs.push_back({slot, 0, n, pos0});
  finalize_layout(b.layout);
  if (all_logits) {
    for (int32_t i = 0; i < n; ++i) b.logit_rows.push_back(i);
  } else {
    b.logit_rows.push_back(n - 1);
  }
  return b;
}
}  // namespace

void prefill(Model& model, KvCache& cache, int slot, const std::vector<int32_t>& tokens, int chunk,
             Logits* all_logits, Logits* last) {
  if (tokens.empty()) throw_error("engine", "prefill of an empty token list");
  chunk = std::max(1, std::min(chunk, cache.spec().max_chunk));
  if (all_logits) {
    all_logits->rows = 0;
    all_logits->vocab = model.info().vocab;
    all_logits->data.clear();
  }
  Logits part;
  const int32_t n = static_cast<int32_t>(tokens.size());
  for (int32_t start = 0; start < n; start += chunk) {
    const int32_t count = std::min(chunk, n - start);
    const bool is_last = start + count == n;
    if (!all_logits && !is_last) {
      // Only the cache matters for this chunk; still ask for one row (cheap) to keep it simple.
    }
    ForwardBatch b = single_batch(slot, cache.seq_len(slot), tokens.data() + start, count, all_logits != nullptr);
    model.forward(b, cache, part);
    if (all_logits) {
      all_logits->data.insert(all_logits->data.end(), part.data.begin(), part.data.end());
      all_logits->rows += part.rows;
    }
    if (is_last && last) *last = part;
  }
  if (last && all_logits) {
    last->rows = 1;
    last->vocab = all_logits->vocab;
    last->data.assign(all_logits->data.end() - all_logits->vocab, all_logits->data.end());
  }
}

GenerateResult generate(Model& model, KvCache& cache, int slot, const std::vector<int32_t>& prompt,
                        Sampler& sampler, const GenerateOptions& opt,
                        const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) throw_error("engine", "generation needs at least one prompt token");
  if (cache.seq_len(slot) != 0) throw_error("engine", "generation slot {} is not empty", slot);
  GenerateResult r;
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<int32_t> history = prompt;
  const auto t0 = Clock::now();
  Logits logits;
  // Prompt minus its last token fills the cache; the last token produces the first logits.
  if (prompt.size() > 1) {
    std::vector<int32_t> head(prompt.begin(), prompt.end() - 1);
    prefill(model, cache, slot, head, opt.prefill_chunk, nullptr, nullptr);
  }
  int32_t next = prompt.back();
  ForwardBatch b = single_batch(slot, cache.seq_len(slot), &next, 1, false);
  model.forward(b, cache, logits);
  r.prefill_seconds = seconds_since(t0);
  const auto t1 = Clock::now();
  r.done_reason = "length";
  for (int i = 0; i < opt.max_tokens; ++i) {
    const int32_t tok = sampler.sample(logits.data.data(), logits.vocab, history);
    if (std::find(opt.stop_ids.begin(), opt.stop_ids.end(), tok) != opt.stop_ids.end()) {
      r.done_reason = "stop";
      break;
    }
    r.tokens.push_back(tok);
    history.push_back(tok);
    if (on_token && !on_token(tok)) {
      r.done_reason = "stop";
      break;
    }
    if (i + 1 == opt.max_tokens) break;
    if (cache.seq_len(slot) >= cache.spec().max_context) break;  // context full: "length"
    ForwardBatch step = single_batch(slot, cache.seq_len(slot), &tok, 1, false);
    model.forward(step, cache, logits);
  }
  r.decode_seconds = seconds_since(t1);
  return r;
}

}  // namespace ollmlx
