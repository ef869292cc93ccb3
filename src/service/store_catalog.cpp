// The service's catalog over the model store: lookups, copies, deletions, pulls and creates,
// with store errors mapped to the statuses Ollama answers (compat spec §1.9-1.13, §1.17).
#include <atomic>
#include <filesystem>

#include "service/catalog.h"
#include "store/store.h"

namespace ollmlx::service {

void ModelCatalog::pull(const api::PullRequest&, const api::ProgressSink&) {
  throw api::ApiError(501, "pull is not available: this server serves a folder of models, not the model store");
}

void ModelCatalog::create(const api::CreateRequest&, const api::ProgressSink&) {
  throw api::ApiError(501, "create is not available: this server serves a folder of models, not the model store");
}

namespace {

using store::StoreError;
using store::StoreErrorKind;

int status_of(const StoreError& e) {
  switch (e.kind()) {
    case StoreErrorKind::InvalidName: return 400;
    case StoreErrorKind::NotFound: return 404;
    case StoreErrorKind::Unauthorized: return 401;
    case StoreErrorKind::Canceled: return 499;
    default: return 500;
  }
}

CatalogEntry to_entry(const store::ModelRecord& r) {
  CatalogEntry e;
  e.name = r.name;
  e.dir = r.dir;
  e.digest = r.digest;
  e.size = r.size;
  e.modified_at = r.modified_at;
  e.modelfile = r.modelfile;
  return e;
}

// Runs a store call, turning its errors into ApiErrors.
template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const StoreError& e) {
    throw api::ApiError(status_of(e), e.message());
  }
}

class StoreCatalog final : public ModelCatalog {
 public:
  StoreCatalog() : store_(store::Store::open()) {}

  std::vector<CatalogEntry> list() override {
    return guarded([&] {
      std::vector<CatalogEntry> out;
      for (const auto& r : store_->list()) out.push_back(to_entry(r));
      return out;
    });
  }

  std::optional<CatalogEntry> find(const std::string& name) override {
    return guarded([&]() -> std::optional<CatalogEntry> {
      try {
        auto r = store_->find(name);
        if (!r) return std::nullopt;
        return to_entry(*r);
      } catch (const StoreError& e) {
        // An unparsable name names no model: the callers answer "not found" in their own words.
        if (e.kind() == StoreErrorKind::InvalidName) return std::nullopt;
        throw;
      }
    });
  }

  void copy(const std::string& source, const std::string& destination) override {
    guarded([&] { store_->copy(source, destination); });
  }

  void remove(const std::string& name) override {
    guarded([&] { store_->remove(name); });
  }

  void pull(const api::PullRequest& request, const api::ProgressSink& sink) override {
    std::atomic<bool> cancel{false};
    try {
      store_->pull(
          request.model,
          [&](const store::PullProgress& p) {
            if (cancel.load()) return;
            if (!sink({p.status, p.digest, p.total, p.completed})) cancel = true;
          },
          &cancel);
    } catch (const StoreError& e) {
      // Ollama answers a failed pull with 500 (or a final error line once streaming), except
      // for a name that does not parse.
      const int status = e.kind() == StoreErrorKind::InvalidName ? 400
                         : e.kind() == StoreErrorKind::Canceled  ? 499
                                                                  : 500;
      throw api::ApiError(status, e.message());
    }
  }

  void create(const api::CreateRequest& r, const api::ProgressSink& sink) override {
    if (r.files.is_object() && !r.files.empty()) {
      throw api::ApiError(400, "create from files (GGUF or safetensors uploads) is not supported by ollmlx yet; use 'from' with a model name");
    }
    if (r.adapters.is_object() && !r.adapters.empty()) {
      throw api::ApiError(400, "adapters are not supported by ollmlx yet");
    }
    if (!r.quantize.empty()) {
      throw api::ApiError(400, "quantize is not supported by ollmlx yet: pull an already quantized MLX model");
    }
    if (r.from.empty()) throw api::ApiError(400, "neither 'from' or 'files' was specified");
    guarded([&] {
      std::optional<store::ModelRecord> from;
      if (!r.from.empty() && r.from.front() == '/') {
        // An MLX model directory on this machine (e.g. one written by an importer): the
        // manifest points at it and ollmlx never deletes it.
        std::error_code ec;
        if (!std::filesystem::is_regular_file(std::filesystem::path(r.from) / "config.json", ec)) {
          throw api::ApiError(400, "'from' " + store::go_quote(r.from) +
                                       " is not a model directory (no config.json)");
        }
        from = store::ModelRecord{};
        from->dir = r.from;
      } else {
        from = store_->find(r.from);
      }
      if (!from) throw api::ApiError(404, "model " + store::go_quote(r.from) + " not found");
      sink({"reading model metadata", "", 0, 0});
      nlohmann::ordered_json layer = nlohmann::ordered_json::object();
      if (r.template_) layer["template"] = *r.template_;
      if (r.system) layer["system"] = *r.system;
      if (r.license) layer["license"] = *r.license;
      if (r.parameters.is_object()) layer["parameters"] = r.parameters;
      if (r.messages.is_array()) layer["messages"] = r.messages;
      if (!layer.empty()) sink({"creating new layer", "", 0, 0});
      sink({"writing manifest", "", 0, 0});
      store_->create(r.model, *from, layer);
    });
  }

 private:
  std::unique_ptr<store::Store> store_;
};

}  // namespace

std::unique_ptr<ModelCatalog> make_store_catalog() { return std::make_unique<StoreCatalog>(); }

}  // namespace ollmlx::service
