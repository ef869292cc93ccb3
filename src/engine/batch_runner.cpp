#include "engine/batch_runner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"
#include "util/log.h"

namespace ollmlx {
namespace {
using SteadyClock = std::chrono::steady_clock;
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Cancelled:
      return "cancelled";
    case FinishReason::Error:
      return "error";
  }
  return "?";
}

struct BatchRunner::Active {
  std::shared_ptr<SequenceRequest> req;
  int slot = -1;
  size_t prefilled = 0;          // prompt tokens (of prompt[0 .. n-1)) already in the cache
  bool generating = false;       // the last prompt token has been run
  int32_t next_token = -1;       // token to feed in the next decode row
  std::unique_ptr<Sampler> sampler;
  std::vector<int32_t> history;  // prompt + generated (penalties)
  SequenceEnd end;
  SteadyClock::time_point admitted, first_token;
  bool done = false;
};

// A pipelined pass whose ids are being computed: logit row i belongs to owners[i] (nullptr once
// that sequence has ended; its row is then discarded).
struct BatchRunner::Pass {
  std::vector<Active*> owners;
  Logits logits;  // pending_ids
};

namespace {
template <typename P>
bool any_live(const P& pass) {
  return std::any_of(pass.owners.begin(), pass.owners.end(), [](const auto* a) { return a != nullptr; });
}
}  // namespace

bool kv_cache_type_is_q8(const std::string& type) {
  if (type == "q8_0") return true;
  if (type.empty() || type == "f16") return false;
  throw_error("engine", "unsupported KV cache type '{}' (f16, or q8_0 with the cuda backend)", type);
}

BatchRunner::BatchRunner(Model& model, BatchRunnerOptions options) : model_(model), opt_(options) {
  if (opt_.slots < 1 || opt_.context < 2 || opt_.max_batch_rows < 1)
    throw_error("engine", "invalid batch runner options (slots {}, context {}, rows {})", opt_.slots,
                opt_.context, opt_.max_batch_rows);
  opt_.max_batch_rows = std::max(opt_.max_batch_rows, opt_.slots);
  KvCacheSpec spec = model_.kv_spec(opt_.slots, opt_.context, std::min(opt_.max_batch_rows, opt_.context));
  spec.q8_0 = kv_cache_type_is_q8(opt_.kv_cache_type);
  cache_ = model_.backend().create_kv_cache(spec);
  pipelining_ = opt_.pipeline && model_.backend().supports_pipelined_decode();
  thread_ = std::thread([this] { loop(); });
}

BatchRunner::~BatchRunner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BatchRunner::submit(std::shared_ptr<SequenceRequest> request) {
  if (!request || request->prompt.empty()) throw_error("engine", "a sequence needs at least one prompt token");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(std::move(request), SteadyClock::now());
    in_flight_.fetch_add(1);
  }
  wake_.notify_all();
}

int BatchRunner::pending() const { return in_flight_.load(); }

size_t BatchRunner::kv_cache_bytes() const { return cache_->bytes(); }

void BatchRunner::finish(Active& a, FinishReason reason, const std::string& error) {
  if (a.done) return;
  a.done = true;
  const auto now = SteadyClock::now();
  a.end.reason = reason;
  a.end.error = error;
  a.end.prompt_tokens = static_cast<int64_t>(a.req->prompt.size());
  if (a.generating) {
    a.end.prompt_eval = a.first_token - a.admitted;
    a.end.eval = now - a.first_token;
  } else {
    a.end.prompt_eval = now - a.admitted;
  }
  if (a.slot >= 0) cache_->free_seq(a.slot);
  a.slot = -1;
  in_flight_.fetch_sub(1);  // before on_end, so a caller woken by it sees the runner idle
  try {
    if (a.req->on_end) a.req->on_end(a.end);
  } catch (const std::exception& e) {
    log::error("[engine] on_end callback failed: {}", e.what());
  }
}

void BatchRunner::loop() {
  std::list<Active> active;  // a list: a pipelined pass keeps pointers to its sequences
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty() || !active.empty(); });
      if (stop_) break;
      // Admit queued sequences into free slots.
      while (!queue_.empty() && static_cast<int>(active.size()) < opt_.slots) {
        auto [req, queued_at] = std::move(queue_.front());
        queue_.pop_front();
        Active a;
        a.req = std::move(req);
        a.admitted = SteadyClock::now();
        a.end.queued = a.admitted - queued_at;
        active.push_back(std::move(a));
      }
    }
    for (Active& a : active) {
      if (a.slot >= 0 || a.done) continue;
      if (static_cast<int64_t>(a.req->prompt.size()) >= opt_.context) {
        finish(a, FinishReason::Error,
               fmt::format("the prompt ({} tokens) exceeds the context length of {} tokens",
                           a.req->prompt.size(), opt_.context));
        continue;
      }
      try {
        a.slot = cache_->alloc_seq();
        a.sampler = std::make_unique<Sampler>(a.req->sampling);
        a.history = a.req->prompt;
      } catch (const std::exception& e) {
        finish(a, FinishReason::Error, e.what());
      }
    }
    try {
      step(active);
    } catch (const std::exception& e) {
      // A failed pass fails every sequence in it; the runner keeps serving new ones.
      log::error("[engine] forward pass failed: {}", e.what());
      next_.reset();
      for (Active& a : active) finish(a, FinishReason::Error, e.what());
    }
    if (next_)
      for (Active*& o : next_->owners)
        if (o && o->done) o = nullptr;
    active.remove_if([](const Active& a) { return a.done; });
    if (active.empty()) {
      bool idle;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        idle = queue_.empty();
      }
      if (idle) model_.backend().release_cached_memory();
    }
  }
  // Shutdown: let a pass still being computed finish, then end everything.
  if (next_) {
    try {
      model_.backend().read_ids(next_->logits.pending_ids);
    } catch (const std::exception& e) {
      log::debug("[engine] discarded pipelined pass failed: {}", e.what());
    }
    next_.reset();
  }
  for (Active& a : active) finish(a, FinishReason::Cancelled);
  std::deque<std::pair<std::shared_ptr<SequenceRequest>, SteadyClock::time_point>> rest;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rest.swap(queue_);
  }
  for (auto& [req, t] : rest) {
    Active a;
    a.req = req;
    a.admitted = SteadyClock::now();
    finish(a, FinishReason::Cancelled);
  }
}

void BatchRunner::step(std::list<Active>& active) {
  std::unique_ptr<Pass> cur = std::move(next_);
  if (cur) {
    // The previous step submitted this pass before reading its predecessor's ids; cancellations
    // end sequences here as at the start of any step (the pass's row of theirs is discarded).
    for (Active& a : active)
      if (!a.done && a.slot >= 0 && a.req->cancelled.load()) finish(a, FinishReason::Cancelled);
    for (Active*& o : cur->owners)
      if (o && o->done) o = nullptr;
  } else {
    // Build the pass: decode rows first (one per generating sequence), then prefill chunks.
    ForwardBatch batch;
    std::vector<Active*> row_owner;    // sequence whose logits row i of the output is
    int budget = opt_.max_batch_rows;
    for (Active& a : active) {
      if (a.done || a.slot < 0) continue;
      if (a.req->cancelled.load()) {
        finish(a, FinishReason::Cancelled);
        continue;
      }
      if (!a.generating) continue;
      if (cache_->seq_len(a.slot) >= opt_.context) {
        finish(a, FinishReason::Length);
        continue;
      }
      const int32_t row = static_cast<int32_t>(batch.tokens.size());
      batch.layout.seqs.push_back({a.slot, row, 1, cache_->seq_len(a.slot)});
      batch.tokens.push_back(a.next_token);
      batch.logit_rows.push_back(row);
      row_owner.push_back(&a);
      --budget;
    }
    for (Active& a : active) {
      if (a.done || a.slot < 0 || a.generating || budget <= 0) continue;
      const auto& p = a.req->prompt;
      const size_t head = p.size() - 1;  // tokens before the last
      const int32_t row = static_cast<int32_t>(batch.tokens.size());
      if (a.prefilled < head) {
        const size_t take = std::min<size_t>(head - a.prefilled, static_cast<size_t>(budget));
        batch.layout.seqs.push_back({a.slot, row, static_cast<int32_t>(take), static_cast<int32_t>(a.prefilled)});
        batch.tokens.insert(batch.tokens.end(), p.begin() + static_cast<std::ptrdiff_t>(a.prefilled),
                            p.begin() + static_cast<std::ptrdiff_t>(a.prefilled + take));
        a.prefilled += take;
        budget -= static_cast<int>(take);
      } else {
        // The last prompt token alone, as mlx-lm does; it yields the first logits.
        batch.layout.seqs.push_back({a.slot, row, 1, static_cast<int32_t>(head)});
        batch.tokens.push_back(p.back());
        batch.logit_rows.push_back(row);
        row_owner.push_back(&a);
        a.generating = true;
        --budget;
      }
    }
    if (batch.tokens.empty()) return;
    finalize_layout(batch.layout);
    // When every row is chosen by plain argmax (temperature 0, no penalties, no log-probabilities),
    // the backend picks the tokens itself: only the ids leave a GPU.
    batch.argmax_only = !row_owner.empty();
    for (const Active* a : row_owner)
      batch.argmax_only = batch.argmax_only && a->sampler->plain_greedy() && !a->req->logprobs &&
                          a->req->top_logprobs <= 0;
    // Otherwise, where the backend samples (a GPU), each row's filters, penalty counts and
    // uniform draw go to it and again only ids come back -- unless a row needs log-probabilities
    // or a filter the backend lacks (typical_p).
    bool on_backend = !batch.argmax_only && !row_owner.empty() && opt_.backend_sampling &&
                      model_.backend().supports_sampling();
    for (const Active* a : row_owner)
      on_backend = on_backend && a->sampler->backend_ok() && !a->req->logprobs && a->req->top_logprobs <= 0;
    if (on_backend) {
      for (Active* a : row_owner) batch.sampling.push_back(a->sampler->backend_request(a->history));
      backend_sampled_passes_.fetch_add(1);
    }
    if (!pipelining_ || !batch.argmax_only) {
      Logits logits;
      model_.forward(batch, *cache_, logits);
      consume(row_owner, logits, batch.argmax_only || on_backend);
      return;
    }
    // Greedy rows on a pipelining backend: start the pass without waiting for its ids.
    batch.argmax_async = true;
    cur = std::make_unique<Pass>();
    cur->owners = row_owner;
    model_.forward(batch, *cache_, cur->logits);
  }
  // `cur` is being evaluated. Submit the next decode step on its ids (still on the backend)
  // before reading them, so building that step's graph overlaps with cur's evaluation.
  if (can_pipeline(*cur, active)) {
    ForwardBatch batch;
    for (size_t i = 0; i < cur->owners.size(); ++i) {
      const int slot = cur->owners[i]->slot;
      batch.layout.seqs.push_back({slot, static_cast<int32_t>(i), 1, cache_->seq_len(slot)});
      batch.logit_rows.push_back(static_cast<int32_t>(i));
    }
    finalize_layout(batch.layout);
    batch.token_ids = cur->logits.pending_ids;
    batch.argmax_only = batch.argmax_async = true;
    auto spec = std::make_unique<Pass>();
    spec->owners = cur->owners;
    model_.forward(batch, *cache_, spec->logits);
    next_ = std::move(spec);
    pipelined_steps_.fetch_add(1);
  }
  cur->logits.argmax = model_.backend().read_ids(cur->logits.pending_ids);
  consume(cur->owners, cur->logits, true);
  if (next_) {
    // Sequences that ended on cur's tokens: their rows of next_ are never read, and freeing the
    // slot discarded what next_ wrote to their caches. When none is left, wait for next_ now
    // rather than leave it running while the runner idles.
    for (Active*& o : next_->owners)
      if (o && o->done) o = nullptr;
    if (!any_live(*next_)) {
      model_.backend().read_ids(next_->logits.pending_ids);
      next_.reset();
    }
  }
}

bool BatchRunner::can_pipeline(const Pass& pass, const std::list<Active>& active) {
  if (!pipelining_) return false;
  size_t live = 0;
  for (const Active& a : active) live += !a.done && a.slot >= 0;
  if (live != pass.owners.size()) return false;  // a sequence is still prefilling
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!queue_.empty() && static_cast<int>(live) < opt_.slots) return false;  // one will be admitted
  }
  for (const Active* a : pass.owners) {
    if (!a || a->done || !a->generating || a->req->cancelled.load()) return false;
    // pass's token is the sequence's (g+1)-th, the next step's its (g+2)-th.
    if (a->req->max_tokens >= 0 && a->end.generated_tokens + 2 > a->req->max_tokens) return false;
    if (cache_->seq_len(a->slot) >= opt_.context) return false;
  }
  return true;
}

void BatchRunner::consume(const std::vector<Active*>& row_owner, Logits& logits, bool argmax_only) {
  const auto now = SteadyClock::now();
  for (size_t i = 0; i < row_owner.size(); ++i) {
    if (!row_owner[i] || row_owner[i]->done) continue;
    Active& a = *row_owner[i];
    if (a.end.generated_tokens == 0) a.first_token = now;
    TokenEvent ev;
    if (argmax_only) {
      ev.id = logits.argmax[i];
    } else if (a.req->logprobs || a.req->top_logprobs > 0) {
      float* row = logits.data.data() + static_cast<int64_t>(i) * logits.vocab;
      // Log-probabilities of the raw logits (log-softmax), before penalties and sampling filters.
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t v = 0; v < logits.vocab; ++v) mx = std::max(mx, row[v]);
      double sum = 0;
      for (int64_t v = 0; v < logits.vocab; ++v) sum += std::exp(static_cast<double>(row[v] - mx));
      const float lse = mx + static_cast<float>(std::log(sum));
      if (a.req->top_logprobs > 0) {
        const int k = std::min<int>(a.req->top_logprobs, static_cast<int>(logits.vocab));
        std::vector<int32_t> idx(static_cast<size_t>(logits.vocab));
        for (int32_t v = 0; v < logits.vocab; ++v) idx[static_cast<size_t>(v)] = v;
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t x, int32_t y) {
          return row[x] > row[y] || (row[x] == row[y] && x < y);
        });
        for (int j = 0; j < k; ++j)
          ev.top.push_back({idx[static_cast<size_t>(j)], row[idx[static_cast<size_t>(j)]] - lse});
      }
      const std::vector<float> raw(row, row + logits.vocab);  // sample() applies penalties in place
      ev.id = a.sampler->sample(row, logits.vocab, a.history);
      ev.logprob = raw[static_cast<size_t>(ev.id)] - lse;
    } else {
      float* row = logits.data.data() + static_cast<int64_t>(i) * logits.vocab;
      ev.id = a.sampler->sample(row, logits.vocab, a.history);
    }
    const auto& stops = a.req->stop_ids;
    if (std::find(stops.begin(), stops.end(), ev.id) != stops.end()) {
      finish(a, FinishReason::Stop);
      continue;
    }
    a.history.push_back(ev.id);
    a.end.tokens.push_back(ev.id);
    ++a.end.generated_tokens;
    FinishReason reason = FinishReason::Stop;
    bool keep = true;
    try {
      keep = a.req->on_token ? a.req->on_token(ev, reason) : true;
    } catch (const std::exception& e) {
      finish(a, FinishReason::Error, e.what());
      continue;
    }
    if (!keep) {
      finish(a, reason);
      continue;
    }
    if (a.req->max_tokens >= 0 && a.end.generated_tokens >= a.req->max_tokens) {
      finish(a, FinishReason::Length);
      continue;
    }
    a.next_token = ev.id;
  }
}

}  // namespace ollmlx
