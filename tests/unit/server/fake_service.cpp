// The scripted Service behind the HTTP tests (see fake_service.h).
#include "fake_service.h"

#include <thread>

namespace ollmlx::server::testing {

Script text_script(const std::vector<std::string>& pieces, std::chrono::milliseconds delay) {
  Script s;
  for (const auto& p : pieces) {
    api::CompletionChunk c;
    c.content = p;
    s.chunks.push_back(c);
  }
  s.delay = delay;
  s.result.done_reason = "stop";
  s.result.prompt_eval_count = 5;
  s.result.eval_count = static_cast<int64_t>(pieces.size());
  s.result.total_duration = std::chrono::milliseconds(30);
  s.result.load_duration = std::chrono::milliseconds(1);
  s.result.prompt_eval_duration = std::chrono::milliseconds(4);
  s.result.eval_duration = std::chrono::milliseconds(20);
  return s;
}

FakeService::FakeService() {
  script = [](const api::CompletionRequest&) { return text_script({"Hel", "lo"}); };
  api::ModelEntry m;
  m.name = "llama3.2:latest";
  m.modified_at = api::Clock::time_point(std::chrono::seconds(1700000000));
  m.size = 1234;
  m.digest = std::string(64, 'a');
  m.details.family = "llama";
  m.details.families = {"llama"};
  models.push_back(m);
  api::ModelEntry n = m;
  n.name = "mlx-community/Qwen3-4B-4bit:latest";
  models.push_back(n);
}

std::vector<api::CompletionRequest> FakeService::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

bool FakeService::wait_finished(int n, std::chrono::milliseconds timeout) const {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (finished.load() < n) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

api::CompletionResult FakeService::complete(const api::CompletionRequest& request,
                                            const api::ChunkSink& sink) {
  ++calls;
  const int now = ++active;
  int prev = max_active.load();
  while (now > prev && !max_active.compare_exchange_weak(prev, now)) {
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    api::CompletionRequest copy = request;
    copy.cancelled = nullptr;
    requests_.push_back(copy);
  }
  struct Done {
    FakeService* s;
    ~Done() {
      --s->active;
      ++s->finished;
    }
  } done{this};

  const Script s = script(request);
  if (s.wait_for_cancel) {
    for (int i = 0; i < 2000; ++i) {  // at most 20 s
      if (request.cancelled && request.cancelled()) {
        ++cancel_seen;
        throw api::ApiError(499, "request canceled");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw api::ApiError(500, "never cancelled");
  }
  if (s.fail_before) throw *s.fail_before;
  do {
    for (const auto& c : s.chunks) {
      if (s.delay.count() > 0) std::this_thread::sleep_for(s.delay);
      if (!sink(c)) {
        ++sink_refused;
        api::CompletionResult r = s.result;
        r.done_reason = "stop";
        return r;
      }
    }
  } while (s.endless);
  if (s.fail_after) throw *s.fail_after;
  return s.result;
}

api::ModelShow FakeService::show(const std::string& name, bool) {
  for (const auto& m : models) {
    if (m.name == name || m.name == name + ":latest") {
      api::ModelShow s;
      s.details = m.details;
      s.modified_at = m.modified_at;
      s.model_info = api::Json{{"general.architecture", "llama"}, {"llama.context_length", 131072}};
      s.capabilities = {"completion", "tools"};
      s.template_text = "{{ .Prompt }}";
      return s;
    }
  }
  const std::string tag = name.find(':') == std::string::npos ? ":latest" : "";
  throw api::ApiError(404, "model '" + name + tag + "' not found");
}

void FakeService::copy(const std::string& source, const std::string& destination) {
  show(source, false);
  std::lock_guard<std::mutex> lock(mu_);
  copies.emplace_back(source, destination);
}

void FakeService::remove(const std::string& name) {
  try {
    show(name, false);
  } catch (const api::ApiError&) {
    throw api::ApiError(404, "model '" + name + "' not found");
  }
  std::lock_guard<std::mutex> lock(mu_);
  removed.push_back(name);
}

}  // namespace ollmlx::server::testing
