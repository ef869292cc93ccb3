// The engine service (service/engine_service.h) on real models from the fixtures: chat and
// generate through the chat template, streamed text equal to the non-streamed text, stop strings
// never leaking, num_predict, load/unload, errors with Ollama's statuses, logprobs, concurrent
// requests equal to separate ones, and client cancellation.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "parity_util.h"
#include "service/engine_service.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string smol = fixtures_dir() + "/smollm2";
    if (!fs::exists(smol + "/config.json")) {
      if (fixtures_required()) FAIL() << "missing " << smol;
      GTEST_SKIP();
    }
    root_ = fs::temp_directory_path() / ("ollmlx-service-" + std::to_string(::getpid()));
    fs::create_directories(root_);
    fs::create_directory_symlink(smol, root_ / "smollm2");
    service::ResidencyConfig cfg;
    cfg.num_parallel = 4;
    cfg.threads = 2;
    svc_ = std::make_unique<service::EngineService>(service::make_directory_catalog(root_.string()), cfg);
  }
  void TearDown() override {
    svc_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  api::CompletionRequest chat(const std::string& text, int64_t num_predict = 24) {
    api::CompletionRequest r;
    r.kind = api::CompletionRequest::Kind::Chat;
    r.model = "smollm2";
    api::Message m;
    m.role = "user";
    m.content = text;
    r.messages.push_back(m);
    r.options.temperature = 0.0;
    r.options.num_predict = num_predict;
    return r;
  }

  std::pair<std::string, api::CompletionResult> run(const api::CompletionRequest& r) {
    std::string text;
    auto res = svc_->complete(r, [&](const api::CompletionChunk& c) {
      text += c.content;
      return true;
    });
    return {text, res};
  }

  fs::path root_;
  std::unique_ptr<service::EngineService> svc_;
};

TEST_F(ServiceTest, ChatAnswersWithOllamaCountsAndDurations) {
  auto [text, res] = run(chat("What is the capital of France?", 40));
  EXPECT_NE(text.find("Paris"), std::string::npos) << text;
  EXPECT_EQ(res.done_reason, "stop");
  EXPECT_GT(res.prompt_eval_count, 10);
  EXPECT_GT(res.eval_count, 3);
  EXPECT_GT(res.load_duration.count(), 0);
  EXPECT_GT(res.prompt_eval_duration.count(), 0);
  EXPECT_GT(res.eval_duration.count(), 0);
  EXPECT_GE(res.total_duration, res.load_duration);
  EXPECT_TRUE(res.context.empty());  // chat returns no context
}

TEST_F(ServiceTest, NumPredictEndsWithLengthAndGenerateReturnsContext) {
  api::CompletionRequest r;
  r.model = "smollm2";
  r.prompt = "Count from one to twenty.";
  r.options.temperature = 0.0;
  r.options.num_predict = 5;
  auto [text, res] = run(r);
  EXPECT_EQ(res.done_reason, "length");
  EXPECT_EQ(res.eval_count, 5);
  EXPECT_EQ(static_cast<int64_t>(res.context.size()), res.prompt_eval_count + 5);
}

TEST_F(ServiceTest, StopStringsEndGenerationAndNeverLeak) {
  auto [full, r0] = run(chat("What is the capital of France?", 40));
  ASSERT_NE(full.find("Paris"), std::string::npos);
  auto req = chat("What is the capital of France?", 40);
  req.options.stop = std::vector<std::string>{"Paris"};
  auto [text, res] = run(req);
  EXPECT_EQ(res.done_reason, "stop");
  EXPECT_EQ(text, full.substr(0, full.find("Paris")));
}

TEST_F(ServiceTest, LoadAndUnloadWithoutPrompt) {
  api::CompletionRequest r;
  r.model = "smollm2";
  auto [t1, load] = run(r);
  EXPECT_EQ(load.done_reason, "load");
  EXPECT_EQ(svc_->running().size(), 1u);
  r.keep_alive = api::KeepAlive{false, std::chrono::nanoseconds(0)};
  auto [t2, unload] = run(r);
  EXPECT_EQ(unload.done_reason, "unload");
  EXPECT_TRUE(svc_->running().empty());
}

TEST_F(ServiceTest, ErrorsCarryOllamaStatuses) {
  auto expect_status = [&](api::CompletionRequest r, int status, const std::string& fragment) {
    try {
      run(r);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const api::ApiError& e) {
      EXPECT_EQ(e.status(), status) << e.message();
      EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
    }
  };
  auto unknown = chat("hi");
  unknown.model = "nope";
  expect_status(unknown, 404, "not found");
  auto tools = chat("hi");
  tools.tools = api::Json::array({{{"type", "function"}}});
  expect_status(tools, 400, "does not support tools");
  auto think = chat("hi");
  think.think = api::Json(true);
  expect_status(think, 400, "does not support thinking");
  auto format = chat("hi");
  format.format = "json";
  expect_status(format, 400, "format");
  auto nan = chat("hi");
  nan.options.temperature = std::nan("");
  expect_status(nan, 400, "temperature");
  auto huge = chat("hi");
  huge.options.num_ctx = int64_t{1} << 40;
  expect_status(huge, 400, "num_ctx");
  auto tiny = chat("Tell me a long story about the sea and the sky and the mountains.");
  tiny.options.num_ctx = 8;
  tiny.truncate = false;
  expect_status(tiny, 400, "exceeds the context");
}

TEST_F(ServiceTest, LogprobsAreReportedPerToken) {
  auto r = chat("Say hello.", 6);
  r.logprobs = true;
  r.top_logprobs = 3;
  std::vector<api::TokenLogprob> lps;
  std::string text;
  auto res = svc_->complete(r, [&](const api::CompletionChunk& c) {
    text += c.content;
    for (const auto& l : c.logprobs) lps.push_back(l);
    return true;
  });
  ASSERT_EQ(static_cast<int64_t>(lps.size()), res.eval_count);
  for (const auto& l : lps) {
    EXPECT_LE(l.logprob, 0.0);
    ASSERT_EQ(l.top.size(), 3u);
    EXPECT_NEAR(l.top[0].logprob, l.logprob, 1e-4);  // greedy: the chosen token is the top one
  }
}

TEST_F(ServiceTest, ConcurrentRequestsAnswerLikeSeparateOnes) {
  const std::vector<std::string> prompts = {"What is the capital of France?", "Name three colors.",
                                            "What is 2 + 2?", "Write a haiku about rain.",
                                            "Who wrote Hamlet?", "Say hi."};
  std::vector<std::string> alone;
  for (const auto& p : prompts) alone.push_back(run(chat(p)).first);
  std::vector<std::future<std::string>> futures;
  for (const auto& p : prompts)
    futures.push_back(std::async(std::launch::async, [&, p] { return run(chat(p)).first; }));
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(futures[i].get(), alone[i]) << prompts[i];
}

TEST_F(ServiceTest, ClientThatGoesAwayCancelsWithin499) {
  auto r = chat("Write a long story.", 500);
  int chunks = 0;
  try {
    svc_->complete(r, [&](const api::CompletionChunk&) { return ++chunks < 3; });
    ADD_FAILURE() << "expected a cancellation";
  } catch (const api::ApiError& e) {
    EXPECT_EQ(e.status(), 499);
  }
  EXPECT_LE(chunks, 5);
  // The model keeps serving.
  EXPECT_FALSE(run(chat("Say hi.", 4)).first.empty());
}

TEST_F(ServiceTest, ListAndShowDescribeTheModel) {
  auto models = svc_->list_models();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, "smollm2:latest");
  EXPECT_EQ(models[0].details.family, "llama");
  EXPECT_EQ(models[0].details.format, "safetensors");
  EXPECT_EQ(models[0].digest.size(), 64u);
  // The newest file's time: in the past, not at the file clock's epoch (year 2174).
  const auto now = std::chrono::system_clock::now();
  EXPECT_LE(models[0].modified_at, now + std::chrono::minutes(1));
  EXPECT_GE(models[0].modified_at, now - std::chrono::hours(24 * 365 * 10));
  auto show = svc_->show("smollm2", false);
  EXPECT_EQ(show.model_info["llama.context_length"], 8192);
  EXPECT_EQ(show.model_info["general.architecture"], "llama");
  EXPECT_NE(show.template_text.find("im_start"), std::string::npos);
  EXPECT_EQ(show.capabilities, std::vector<std::string>{"completion"});
  try {
    svc_->show("missing", false);
    ADD_FAILURE();
  } catch (const api::ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.message(), "model 'missing:latest' not found");
  }
}

}  // namespace
}  // namespace ollmlx::test
