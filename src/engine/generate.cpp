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
// generate()'s decode loop with pipelining: `cur` is the submitted pass of the prompt's last
// token. Before each pass's ids are read, the pass on them is submitted; when the token read ends
// generation, that speculative pass is waited for and its cache row rewound (set_len), so the
// cache ends as the plain loop leaves it.
void decode_pipelined(Model& model, KvCache& cache, int slot, Logits& cur, const GenerateOptions& opt,
                      const std::function<bool(int32_t)>& on_token, Clock::time_point t0, GenerateResult& r) {
  Logits following;
  Clock::time_point t1;
  r.done_reason = "length";
  for (int i = 0; i < opt.max_tokens; ++i) {
    bool submitted = false;
    if (i + 1 < opt.max_tokens && cache.seq_len(slot) < cache.spec().max_context) {
      ForwardBatch b;
      b.layout.seqs.push_back({slot, 0, 1, cache.seq_len(slot)});
      finalize_layout(b.layout);
      b.logit_rows = {0};
      b.token_ids = cur.pending_ids;
      b.argmax_only = b.argmax_async = true;
      model.forward(b, cache, following);
      submitted = true;
    }
    const int32_t tok = model.backend().read_ids(cur.pending_ids).at(0);
    if (i == 0) {
      r.prefill_seconds = seconds_since(t0);
      t1 = Clock::now();
    }
    bool stop = std::find(opt.stop_ids.begin(), opt.stop_ids.end(), tok) != opt.stop_ids.end();
    if (!stop) {
      r.tokens.push_back(tok);
      stop = on_token && !on_token(tok);
    }
    if (stop) {
      r.done_reason = "stop";
      if (submitted) {
        // The pass on `tok` is not wanted: let it finish, then drop its row.
        model.backend().read_ids(following.pending_ids);
        cache.set_len(slot, cache.seq_len(slot) - 1);
      }
      break;
    }
    if (!submitted) break;  // max_tokens reached, or the context is full ("length")
    std::swap(cur, following);
  }
  if (opt.max_tokens <= 0) {  // nothing to generate: still wait for the prompt's pass
    model.backend().read_ids(cur.pending_ids);
    r.prefill_seconds = seconds_since(t0);
    return;
  }
  r.decode_seconds = seconds_since(t1);
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
  if (opt.pipeline && sampler.plain_greedy() && model.backend().supports_pipelined_decode()) {
    b.argmax_only = b.argmax_async = true;
    model.forward(b, cache, logits);
    decode_pipelined(model, cache, slot, logits, opt, on_token, t0, r);
    return r;
  }
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
