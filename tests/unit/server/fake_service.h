// A scripted api::Service for the HTTP tests: completions replay chunks (optionally slowly,
// endlessly, failing before or after them, or waiting to be cancelled) and record what the
// server passed in and how the sink and the cancel probe behaved.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/service.h"

namespace ollmlx::server::testing {

struct Script {
  std::vector<api::CompletionChunk> chunks;
  std::chrono::milliseconds delay{0};  // before each chunk
  bool endless = false;                // repeat chunks until the sink says stop
  bool wait_for_cancel = false;        // send nothing; throw 499 once request.cancelled() is true
  std::optional<api::ApiError> fail_before;  // thrown before any chunk
  std::optional<api::ApiError> fail_after;   // thrown after the chunks
  api::CompletionResult result;
};

Script text_script(const std::vector<std::string>& pieces, std::chrono::milliseconds delay = {});

class FakeService final : public api::Service {
 public:
  FakeService();

  std::function<Script(const api::CompletionRequest&)> script;
  std::vector<api::ModelEntry> models;
  std::vector<api::RunningModel> running_models;

  // Observations.
  std::atomic<int> calls{0}, active{0}, max_active{0}, finished{0};
  std::atomic<int> sink_refused{0};   // the sink returned false
  std::atomic<int> cancel_seen{0};    // request.cancelled() turned true
  std::vector<api::CompletionRequest> requests() const;
  std::vector<std::pair<std::string, std::string>> copies;
  std::vector<std::string> removed;
  // Waits until `finished` reaches n (true) or the timeout passes (false).
  bool wait_finished(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  api::CompletionResult complete(const api::CompletionRequest& request,
                                 const api::ChunkSink& sink) override;
  std::vector<api::ModelEntry> list_models() override { return models; }
  api::ModelShow show(const std::string& name, bool verbose) override;
  std::vector<api::RunningModel> running() override { return running_models; }
  void copy(const std::string& source, const std::string& destination) override;
  void remove(const std::string& name) override;

 private:
  mutable std::mutex mu_;
  std::vector<api::CompletionRequest> requests_;
};

}  // namespace ollmlx::server::testing
