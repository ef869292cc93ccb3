// Where the service finds models by name. The model store (src/store) is the real catalog; a
// DirectoryCatalog serves every model directory below one folder (tests, and a store-less
// setup), named by its path relative to that folder.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/service.h"

namespace ollmlx::service {

struct CatalogEntry {
  std::string name;    // display name, e.g. "smollm2:latest"
  std::string dir;     // MLX model directory (config.json, *.safetensors, tokenizer files)
  std::string digest;  // 64 hex
  int64_t size = 0;    // bytes
  std::chrono::system_clock::time_point modified_at;
  // The Modelfile layer: {"template"?, "system"?, "parameters"?: {k: v|[v]}, "messages"?, "license"?}
  nlohmann::ordered_json modelfile = nlohmann::ordered_json::object();
};

class ModelCatalog {
 public:
  virtual ~ModelCatalog() = default;
  virtual std::vector<CatalogEntry> list() = 0;                  // newest first
  virtual std::optional<CatalogEntry> find(const std::string& name) = 0;
  virtual void copy(const std::string& source, const std::string& destination) = 0;
  virtual void remove(const std::string& name) = 0;
  // Store operations (a catalog without a store answers 501 naming the operation).
  virtual void pull(const api::PullRequest& request, const api::ProgressSink& sink);
  virtual void create(const api::CreateRequest& request, const api::ProgressSink& sink);
  // Uploaded blobs for create-from-files (api::Service::has_blob/put_blob).
  virtual bool has_blob(const std::string& digest);
  virtual bool put_blob(const std::string& digest, const api::BodyReader& body);
};

// Every folder below `root` holding a config.json is a model named "<relative path>:latest"
// (lookups are case-insensitive; ":latest" may be omitted). Copies are recorded as aliases in
// memory; remove deletes nothing on disk (it refuses).
std::unique_ptr<ModelCatalog> make_directory_catalog(const std::string& root);

// The model store (src/store): names from ollmlx manifests and the Hugging Face hub cache, pull
// from the hub, create from an existing model. Store errors become ApiErrors with Ollama's
// statuses and texts.
std::unique_ptr<ModelCatalog> make_store_catalog();

// "name" -> "name:latest" unless a tag is present (the tag follows the last ':' after the last '/').
std::string with_default_tag(const std::string& name);

}  // namespace ollmlx::service
