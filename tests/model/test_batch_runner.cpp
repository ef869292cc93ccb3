// The continuous-batching runner (engine/batch_runner.h) on SmolLM2: requests decoded together
// generate exactly what each generates alone; more requests than slots wait and complete;
// cancellation and the context limit end sequences cleanly.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "engine/batch_runner.h"
#include "engine/generate.h"
#include "parity_util.h"

namespace ollmlx::test {
namespace {

std::string smollm2_dir() { return fixtures_dir() + "/smollm2"; }

bool have_model() {
  if (std::filesystem::exists(smollm2_dir() + "/config.json")) return true;
  if (fixtures_required()) ADD_FAILURE() << "missing " << smollm2_dir();
  return false;
}

struct Outcome {
  std::vector<int32_t> tokens;
  SequenceEnd end;
};

std::shared_ptr<SequenceRequest> make_request(std::vector<int32_t> prompt, int64_t max_tokens,
                                              std::promise<Outcome>& done, SamplerParams sp = {}) {
  auto r = std::make_shared<SequenceRequest>();
  r->prompt = std::move(prompt);
  r->max_tokens = max_tokens;
  r->sampling = sp;
  auto tokens = std::make_shared<std::vector<int32_t>>();
  r->on_token = [tokens](const TokenEvent& ev, FinishReason&) {
    tokens->push_back(ev.id);
    return true;
  };
  r->on_end = [tokens, &done](const SequenceEnd& e) { done.set_value({*tokens, e}); };
  return r;
}

std::vector<int32_t> alone(Model& m, const std::vector<int32_t>& prompt, int max_tokens, SamplerParams sp = {}) {
  auto cache = m.backend().create_kv_cache(m.kv_spec(1, 512, 512));
  Sampler s(sp);
  GenerateOptions opt;
  opt.max_tokens = max_tokens;
  return generate(m, *cache, cache->alloc_seq(), prompt, s, opt).tokens;
}

const std::vector<std::vector<int32_t>> kPrompts = {
    {1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173}, {1, 504, 3458, 282, 4649, 314},
    {1, 19556, 905, 28, 1453, 1161, 346, 3112, 30}, {2, 45, 46, 47},
    {1, 416, 7425, 1365, 260, 9079, 30, 378, 3930, 282, 2443, 314, 216, 33, 34, 35},
};

TEST(BatchRunner, ConcurrentRequestsGenerateWhatEachGeneratesAlone) {
  if (!have_model()) GTEST_SKIP();
  auto be = create_backend("cpu", 2);
  auto model = load_model(smollm2_dir(), *be);
  std::vector<std::vector<int32_t>> expect;
  SamplerParams sampled;
  sampled.temperature = 0.8f;
  sampled.top_k = 40;
  sampled.seed = 1234;
  for (size_t i = 0; i < kPrompts.size(); ++i)
    expect.push_back(alone(*model, kPrompts[i], 24, i % 2 ? sampled : SamplerParams{}));
  BatchRunner runner(*model, {3, 512, 64});  // fewer slots than requests: some wait
  std::vector<std::promise<Outcome>> done(kPrompts.size());
  for (size_t i = 0; i < kPrompts.size(); ++i)
    runner.submit(make_request(kPrompts[i], 24, done[i], i % 2 ? sampled : SamplerParams{}));
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    Outcome o = done[i].get_future().get();
    EXPECT_EQ(o.tokens, expect[i]) << "request " << i;
    EXPECT_EQ(o.end.reason, o.tokens.size() == 24 ? FinishReason::Length : FinishReason::Stop);
    EXPECT_EQ(o.end.prompt_tokens, static_cast<int64_t>(kPrompts[i].size()));
  }
  EXPECT_EQ(runner.pending(), 0);
}

TEST(BatchRunner, CancelledSequenceEndsAndFreesItsSlot) {
  if (!have_model()) GTEST_SKIP();
  auto be = create_backend("cpu", 2);
  auto model = load_model(smollm2_dir(), *be);
  BatchRunner runner(*model, {1, 512, 64});
  std::promise<Outcome> first, second;
  auto r1 = make_request(kPrompts[0], -1, first);
  int seen = 0;
  auto inner = r1->on_token;
  r1->on_token = [&, inner](const TokenEvent& ev, FinishReason& why) {
    inner(ev, why);
    if (++seen == 3) {
      why = FinishReason::Cancelled;
      return false;
    }
    return true;
  };
  runner.submit(r1);
  runner.submit(make_request(kPrompts[1], 4, second));  // waits for the single slot
  Outcome a = first.get_future().get();
  EXPECT_EQ(a.end.reason, FinishReason::Cancelled);
  EXPECT_EQ(a.tokens.size(), 3u);
  Outcome b = second.get_future().get();
  EXPECT_EQ(b.tokens.size(), 4u);
  EXPECT_EQ(b.end.reason, FinishReason::Length);
}

TEST(BatchRunner, ExternalCancelFlagStopsWithinAStep) {
  if (!have_model()) GTEST_SKIP();
  auto be = create_backend("cpu", 2);
  auto model = load_model(smollm2_dir(), *be);
  BatchRunner runner(*model, {2, 512, 64});
  std::promise<Outcome> done;
  auto r = make_request(kPrompts[2], -1, done);
  std::shared_ptr<SequenceRequest> self = r;
  auto inner = r->on_token;
  r->on_token = [inner, raw = r.get()](const TokenEvent& ev, FinishReason& why) {
    inner(ev, why);
    raw->cancelled.store(true);  // as the HTTP side does when the client is gone
    return true;
  };
  runner.submit(r);
  Outcome o = done.get_future().get();
  EXPECT_EQ(o.end.reason, FinishReason::Cancelled);
  EXPECT_EQ(o.tokens.size(), 1u);
}

TEST(BatchRunner, PromptLongerThanTheContextIsAnError) {
  if (!have_model()) GTEST_SKIP();
  auto be = create_backend("cpu", 2);
  auto model = load_model(smollm2_dir(), *be);
  BatchRunner runner(*model, {2, 16, 16});
  std::promise<Outcome> done;
  runner.submit(make_request(std::vector<int32_t>(20, 42), 4, done));
  Outcome o = done.get_future().get();
  EXPECT_EQ(o.end.reason, FinishReason::Error);
  EXPECT_NE(o.end.error.find("context"), std::string::npos) << o.end.error;
  // The runner keeps serving.
  std::promise<Outcome> ok;
  runner.submit(make_request(kPrompts[3], 2, ok));
  EXPECT_EQ(ok.get_future().get().tokens.size(), 2u);
}

// OLLAMA_KV_CACHE_TYPE's values: f16 (the model's own dtype) works everywhere; q8_0 is the cuda
// backend's, so the CPU refuses it clearly; anything else is an error.
TEST(BatchRunner, KvCacheTypes) {
  if (!have_model()) GTEST_SKIP();
  auto be = create_backend("cpu", 2);
  auto model = load_model(smollm2_dir(), *be);
  BatchRunnerOptions o{1, 64, 64};
  o.kv_cache_type = "f16";
  {
    BatchRunner runner(*model, o);
    std::promise<Outcome> ok;
    runner.submit(make_request(kPrompts[3], 2, ok));
    EXPECT_EQ(ok.get_future().get().tokens.size(), 2u);
  }
  o.kv_cache_type = "q8_0";
  try {
    BatchRunner runner(*model, o);
    ADD_FAILURE() << "the cpu backend accepted a q8_0 KV cache";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda backend only"), std::string::npos) << e.what();
  }
  o.kv_cache_type = "q4_0";
  EXPECT_THROW(BatchRunner(*model, o), Error);
}

TEST(BatchRunner, GenerationStopsAtTheContextLimitWithLength) {
  if (!have_model()) GTEST_SKIP();
  auto be = create_backend("cpu", 2);
  auto model = load_model(smollm2_dir(), *be);
  BatchRunner runner(*model, {1, 12, 12});
  std::promise<Outcome> done;
  runner.submit(make_request(kPrompts[1], -1, done));  // 6 prompt tokens, context 12
  Outcome o = done.get_future().get();
  EXPECT_EQ(o.end.reason, FinishReason::Length);
  EXPECT_EQ(o.tokens.size() + kPrompts[1].size(), 12u + 1);  // the last token needs no cache row
}

}  // namespace
}  // namespace ollmlx::test
