// Continuous batching for one loaded model: every request is a sequence in a KV-cache slot, and
// one thread advances all active sequences together, one forward pass per step. A step holds
// one decode row per generating sequence plus prefill chunks of newly admitted prompts (up to a
// row budget), so a request joins and leaves the batch at any step and the weights are read
// once per step for all of them. Results do not depend on the batch a sequence is in (every op
// is row-independent), so a request generates exactly what it would alone.
//
// Prompts are run as mlx-lm's generate_step does: all but the last token fill the cache, the
// last token yields the first logits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/model.h"
#include "sample/sampler.h"

namespace ollmlx {

struct TopToken {
  int32_t id = 0;
  float logprob = 0;
};

// One generated token, as the runner hands it to the request.
struct TokenEvent {
  int32_t id = 0;
  float logprob = 0;            // log-softmax of the raw logits (when logprobs were requested)
  std::vector<TopToken> top;    // the top_logprobs most likely tokens
};

enum class FinishReason { Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct SequenceEnd {
  FinishReason reason = FinishReason::Stop;
  std::string error;                       // when reason == Error
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;            // tokens passed to on_token
  std::chrono::nanoseconds queued{0};      // waiting for a slot
  std::chrono::nanoseconds prompt_eval{0}; // admission -> first token's logits
  std::chrono::nanoseconds eval{0};        // first token -> end
  std::vector<int32_t> tokens;             // generated tokens
};

struct SequenceRequest {
  std::vector<int32_t> prompt;   // at least one token
  SamplerParams sampling;
  int64_t max_tokens = -1;       // -1: until stop or the context is full
  std::vector<int32_t> stop_ids;
  bool logprobs = false;
  int top_logprobs = 0;          // 0..20
  // Called on the runner thread for every generated token (stop ids are not passed). Return
  // false to end the sequence now (a stop string matched, or the client is gone); `reason`
  // says which.
  std::function<bool(const TokenEvent&, FinishReason& reason)> on_token;
  // Called exactly once, on the runner thread, when the sequence ends (also if it never ran).
  std::function<void(const SequenceEnd&)> on_end;
  // Set from any thread to stop the sequence at the next step (client disconnected).
  std::atomic<bool> cancelled{false};
};

struct BatchRunnerOptions {
  int slots = 4;             // concurrent sequences
  int context = 4096;        // positions per sequence
  int max_batch_rows = 512;  // rows per forward pass (decode rows + prefill chunks)
  // Pipelined greedy decoding where the backend supports it (Backend::supports_pipelined_decode,
  // the mlx backend): while every sequence of the batch decodes by plain argmax and nothing waits
  // to join, step N+1 is submitted on step N's ids (still on the device) before those are read,
  // as mlx-lm's generate loop does with async_eval. Tokens, done reasons and counts are the same
  // either way; a sequence that ends at step N has its row of step N+1 discarded with its slot.
  bool pipeline = true;
  // Sampled rows (temperature, penalties) are sampled by the backend where it can
  // (Backend::supports_sampling, the cuda backend): the same tokens, only ids copied.
  bool backend_sampling = true;
  // KV cache storage: "" or "f16" = the model's activation dtype (bf16/f16/f32, as mlx-lm);
  // "q8_0" = 8-bit blocks (KvCacheSpec::q8_0, cuda backend only). Anything else is an error.
  std::string kv_cache_type;
};

// OLLAMA_KV_CACHE_TYPE's values: "" or "f16" (the model's own dtype) -> false, "q8_0" ->
// true (KvCacheSpec::q8_0); anything else throws Error("engine").
bool kv_cache_type_is_q8(const std::string& type);

class BatchRunner {
 public:
  BatchRunner(Model& model, BatchRunnerOptions options);
  ~BatchRunner();  // cancels everything still queued or running, joins the thread
  BatchRunner(const BatchRunner&) = delete;
  BatchRunner& operator=(const BatchRunner&) = delete;

  // Queues a sequence; it starts as soon as a slot is free. Thread-safe.
  void submit(std::shared_ptr<SequenceRequest> request);
  // Sequences running or waiting (0 once every on_end has been called or is being called).
  int pending() const;
  const BatchRunnerOptions& options() const { return opt_; }
  size_t kv_cache_bytes() const;
  // Decode passes submitted speculatively (before the ids of the pass before them were read).
  int64_t pipelined_steps() const { return pipelined_steps_.load(); }
  // Passes whose rows the backend sampled (Backend::sample_rows).
  int64_t backend_sampled_passes() const { return backend_sampled_passes_.load(); }

 private:
  struct Active;
  struct Pass;
  void loop();
  void step(std::list<Active>& active);
  // Hands each logit row's token to its sequence (sampling, stops, callbacks, limits).
  void consume(const std::vector<Active*>& owners, Logits& logits, bool argmax_only);
  // Whether the decode step after `pass` (same sequences, one row each) may be submitted before
  // the pass's ids are read: nothing waits to join and no sequence can end for a reason known
  // before its token is (length limits, cancellation).
  bool can_pipeline(const Pass& pass, const std::list<Active>& active);
  void finish(Active& a, FinishReason reason, const std::string& error = {});

  Model& model_;
  BatchRunnerOptions opt_;
  std::unique_ptr<KvCache> cache_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::shared_ptr<SequenceRequest>, std::chrono::steady_clock::time_point>> queue_;
  std::atomic<int> in_flight_{0};  // submitted, not yet ended
  bool pipelining_ = false;        // options.pipeline and the backend supports it
  std::unique_ptr<Pass> next_;     // a pass submitted before the previous one's ids were read
  std::atomic<int64_t> pipelined_steps_{0};
  std::atomic<int64_t> backend_sampled_passes_{0};
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ollmlx
