// The engine behind the HTTP server: api::Service over a model catalog, the residency manager
// and the batch runners. It turns a completion request into prompt tokens (the model's Jinja chat
// template and tokenizer), resolves options (defaults < model parameters < request), runs the
// sequence in the model's BatchRunner, and streams text with stop strings held back until
// decided, logprobs, and Ollama's counts and durations.
#pragma once

#include <memory>

#include "api/service.h"
#include "service/catalog.h"
#include "service/residency.h"

namespace ollmlx::service {

class EngineService final : public api::Service {
 public:
  EngineService(std::unique_ptr<ModelCatalog> catalog, ResidencyConfig config);

  api::CompletionResult complete(const api::CompletionRequest& request, const api::ChunkSink& sink) override;
  std::vector<api::ModelEntry> list_models() override;
  api::ModelShow show(const std::string& name, bool verbose) override;
  std::vector<api::RunningModel> running() override;
  void copy(const std::string& source, const std::string& destination) override;
  void remove(const std::string& name) override;
  void pull(const api::PullRequest& request, const api::ProgressSink& sink) override;
  void create(const api::CreateRequest& request, const api::ProgressSink& sink) override;
  bool has_blob(const std::string& digest) override;
  bool put_blob(const std::string& digest, const api::BodyReader& body) override;

  Residency& residency() { return residency_; }

 private:
  CatalogEntry find_or_404(const std::string& name, bool generate_style);

  std::unique_ptr<ModelCatalog> catalog_;
  Residency residency_;
};

}  // namespace ollmlx::service
