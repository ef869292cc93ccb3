// The service's catalog over the model store: lookups, copies, deletions, pulls and creates,
// with store errors mapped to the statuses Ollama answers (compat spec §1.9-1.13, §1.17).
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>

#include "service/catalog.h"
#include "store/files.h"
#include "store/import/blob_store.h"
#include "store/import/gguf.h"
#include "store/import/importer.h"
#include "store/import/quantize_model.h"
#include "store/sha256.h"
#include "store/store.h"
#include "util/log.h"

namespace ollmlx::service {

void ModelCatalog::pull(const api::PullRequest&, const api::ProgressSink&) {
  throw api::ApiError(501, "pull is not available: this server serves a folder of models, not the model store");
}

void ModelCatalog::create(const api::CreateRequest&, const api::ProgressSink&) {
  throw api::ApiError(501, "create is not available: this server serves a folder of models, not the model store");
}

bool ModelCatalog::has_blob(const std::string&) {
  throw api::ApiError(501, "blobs are not available: this server serves a folder of models, not the model store");
}

bool ModelCatalog::put_blob(const std::string&, const api::BodyReader&) {
  throw api::ApiError(501, "blob upload is not available: this server serves a folder of models, not the model store");
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
    case StoreErrorKind::DigestMismatch: return 400;  // blob upload (compat spec §1.14)
    case StoreErrorKind::NotMlx: return 400;          // an Ollama model ollmlx cannot import
    default: return 500;
  }
}

// Runs an import, turning its errors into ApiErrors: a file that cannot be imported (GGUF
// parser or converter "[gguf] ...", quantizer "[quantize] ...") is the client's 400.
template <typename F>
auto guarded_import(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const StoreError& e) {
    throw api::ApiError(status_of(e), e.message());
  } catch (const api::ApiError&) {
    throw;
  } catch (const Error& e) {
    // A file that cannot be imported or quantized: the importer's, the quantizer's and the
    // safetensors/weights readers' errors name the file and what is wrong with it.
    if (e.subsystem() == "gguf" || e.subsystem() == "quantize" || e.subsystem() == "safetensors" ||
        e.subsystem() == "weights")
      throw api::ApiError(400, e.what());
    throw;
  }
}

// True when `path` is a regular file starting with GGUF's magic.
bool is_gguf_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && gguf::has_gguf_magic(reinterpret_cast<const uint8_t*>(magic), 4);
}

// "files" keys are paths inside the model being created: relative, no "..", "." or empty parts.
bool safe_relative(const std::string& p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string::npos || p.find('\0') != std::string::npos)
    return false;
  size_t start = 0;
  for (;;) {
    const size_t slash = p.find('/', start);
    const std::string part = p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
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
    // An imported model's converted directory goes with its last name (local directories are
    // never deleted by the store itself).
    try {
      for (const auto& p : store::prune_imports(*store_)) log::info("removed unused import {}", p.string());
    } catch (const std::exception& e) {
      log::warn("pruning imports: {}", e.what());
    }
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

  bool has_blob(const std::string& digest) override {
    return guarded([&] { return blobs().find(digest).has_value(); });
  }

  bool put_blob(const std::string& digest, const api::BodyReader& body) override {
    return guarded([&] { return blobs().put(digest, body); });
  }

  void create(const api::CreateRequest& r, const api::ProgressSink& sink) override {
    if (r.adapters.is_object() && !r.adapters.empty()) {
      throw api::ApiError(400, "adapters are not supported by ollmlx yet");
    }
    int quantize_bits = 0;
    if (!r.quantize.empty()) {
      try {
        quantize_bits = gguf::parse_quantize_level(r.quantize);
      } catch (const Error& e) {
        throw api::ApiError(400, e.what());
      }
    }
    const bool has_files = r.files.is_object() && !r.files.empty();
    if (r.from.empty() && !has_files) throw api::ApiError(400, "neither 'from' or 'files' was specified");
    if (quantize_bits && (r.from.rfind("ollama:", 0) == 0 || is_local_gguf(r.from)))
      throw api::ApiError(400, kQuantizeGguf);
    if (has_files || r.from.rfind("ollama:", 0) == 0 || is_local_gguf(r.from)) {
      create_by_import(r, sink, quantize_bits);
      return;
    }
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
      if (quantize_bits) from->dir = quantized(from->dir, quantize_bits, sink).string();
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
  store::BlobStore blobs() const { return store::BlobStore(store_->config().models_dir); }

  static bool is_local_gguf(const std::string& from) {
    std::error_code ec;
    return !from.empty() && from.front() == '/' && std::filesystem::is_regular_file(from, ec) &&
           is_gguf_file(from);
  }

  // The request's Modelfile layer (template, system, license, parameters, messages).
  static nlohmann::ordered_json layer_of(const api::CreateRequest& r) {
    nlohmann::ordered_json layer = nlohmann::ordered_json::object();
    if (r.template_) layer["template"] = *r.template_;
    if (r.system) layer["system"] = *r.system;
    if (r.license) layer["license"] = *r.license;
    if (r.parameters.is_object()) layer["parameters"] = r.parameters;
    if (r.messages.is_array()) layer["messages"] = r.messages;
    return layer;
  }

  // Imports: "files" naming uploaded blobs (one GGUF, or the files of an MLX/Hugging Face model
  // directory), "from": "ollama:<name>" (the user's Ollama store), or "from" an absolute path of
  // a GGUF file on this machine.
  static constexpr const char* kQuantizeGguf =
      "quantize applies to float safetensors models (an MLX or Hugging Face folder): a GGUF file "
      "or an Ollama model is imported in its own quantization";

  // The quantized form of the model directory `src` (quantize_model.h), made once: the
  // directory $OLLMLX_MODELS/imports/quant-q<bits>-<hash> is named after the source's path and
  // the names, sizes and times of its files, written under a temporary name and renamed.
  std::filesystem::path quantized(const std::string& src, int bits, const api::ProgressSink& sink) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::string identity = fs::weakly_canonical(src, ec).string() + "\n";
    if (ec) throw api::ApiError(400, src + ": " + ec.message());
    std::vector<std::string> lines;
    for (auto it = fs::directory_iterator(src, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code e2;
      const auto size = fs::file_size(it->path(), e2);
      const auto time = fs::last_write_time(it->path(), e2).time_since_epoch().count();
      lines.push_back(it->path().filename().string() + "\t" + std::to_string(size) + "\t" + std::to_string(time));
    }
    std::sort(lines.begin(), lines.end());
    for (const std::string& l : lines) identity += l + "\n";
    const fs::path dir = store_->config().models_dir / "imports" /
                         ("quant-q" + std::to_string(bits) + "-" + store::sha256_hex(identity).substr(0, 32));
    if (fs::is_regular_file(dir / "config.json", ec)) {
      sink({"using the earlier quantization", "", 0, 0});
      return dir;
    }
    std::atomic<bool> cancel{false};
    gguf::QuantizeOptions opt;
    opt.bits = bits;
    opt.cancel = &cancel;
    opt.log = [&](const std::string& line) {
      if (!cancel.load() && !sink({line, "", 0, 0})) cancel = true;
    };
    const fs::path tmp = dir.string() + ".tmp-" + store::random_hex(8);
    guarded_import([&] {
      sink({"quantizing model to q" + std::to_string(bits), "", 0, 0});
      gguf::quantize_model_dir(src, tmp, opt);
    });
    fs::rename(tmp, dir, ec);
    if (ec) {
      std::error_code ignored;
      fs::remove_all(tmp, ignored);
      if (!fs::is_regular_file(dir / "config.json", ignored))
        throw api::ApiError(500, dir.string() + ": " + ec.message());
    }
    return dir;
  }

  void create_by_import(const api::CreateRequest& r, const api::ProgressSink& sink, int quantize_bits) {
    std::atomic<bool> cancel{false};
    auto say = [&](const std::string& status) {
      if (cancel.load()) return;
      if (!sink({status, "", 0, 0})) cancel = true;
    };
    store::ImportOptions opt;
    opt.progress = say;
    opt.cancel = &cancel;
    const nlohmann::ordered_json layer = layer_of(r);
    auto report = [&](const store::ImportResult& res) {
      for (const std::string& note : res.notes) say(note);
      if (res.template_source == "gguf") say("using the chat template from the GGUF metadata (Jinja)");
    };
    if (!r.files.is_object() || r.files.empty()) {
      if (r.from.rfind("ollama:", 0) == 0) {
        guarded_import([&] { report(store::import_ollama(*store_, r.from.substr(7), r.model, layer, opt)); });
      } else {
        guarded_import([&] { report(store::import_gguf(*store_, r.from, r.model, layer, opt)); });
      }
      return;
    }
    if (!r.from.empty()) throw api::ApiError(400, "use either 'from' or 'files', not both");
    // Resolve every file to its uploaded blob.
    std::vector<std::pair<std::string, std::filesystem::path>> files;
    std::vector<std::string> digests;
    for (const auto& [name, digest] : r.files.items()) {
      if (!safe_relative(name)) throw api::ApiError(400, "file path must be relative");
      if (!digest.is_string() || !store::BlobStore::parse_digest(digest.get<std::string>()))
        throw api::ApiError(400, "invalid digest format");
      const std::string d = digest.get<std::string>();
      auto path = guarded([&] { return blobs().find(d); });
      if (!path) throw api::ApiError(400, "blob " + store::go_quote(d) + " not found: upload it with POST /api/blobs/" + d);
      files.emplace_back(name, *path);
      digests.push_back(*store::BlobStore::parse_digest(d));
    }
    std::vector<size_t> ggufs;
    for (size_t i = 0; i < files.size(); ++i)
      if (is_gguf_file(files[i].second)) ggufs.push_back(i);
    if (ggufs.size() > 1) throw api::ApiError(400, "more than one GGUF file: split or multi-file GGUF models are not supported");
    if (ggufs.size() == 1) {
      if (quantize_bits) throw api::ApiError(400, kQuantizeGguf);
      if (files.size() > 1)
        say("only the GGUF file is used; the other files are ignored");
      opt.sha256 = digests[ggufs[0]];  // verified when it was uploaded
      guarded_import([&] { report(store::import_gguf(*store_, files[ggufs[0]].second, r.model, layer, opt)); });
      return;
    }
    // An MLX / Hugging Face model directory: config.json and safetensors weights.
    bool config = false, weights = false;
    for (const auto& [name, path] : files) {
      config = config || name == "config.json";
      weights = weights || (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0);
    }
    if (!config || !weights) {
      if (files.size() == 1) throw api::ApiError(400, "supplied file was not in GGUF format");
      throw api::ApiError(400, "no files provided to convert: expected one GGUF file, or config.json and *.safetensors");
    }
    guarded([&] {
      say("parsing model directory");
      // Content-addressed: the same set of files makes the same directory.
      std::vector<std::string> lines;
      for (size_t i = 0; i < files.size(); ++i) lines.push_back(files[i].first + "\t" + digests[i]);
      std::sort(lines.begin(), lines.end());
      std::string joined;
      for (const std::string& l : lines) joined += l + "\n";
      const std::filesystem::path dir = store_->config().models_dir / "imports" / ("files-" + store::sha256_hex(joined));
      std::error_code ec;
      if (!std::filesystem::is_regular_file(dir / "config.json", ec)) {
        const std::filesystem::path tmp = dir.string() + ".tmp-" + store::random_hex(8);
        for (const auto& [name, blob] : files) {
          const std::filesystem::path dst = tmp / name;
          std::filesystem::create_directories(dst.parent_path(), ec);
          std::filesystem::create_hard_link(blob, dst, ec);
          if (ec) std::filesystem::copy_file(blob, dst, ec);
          if (ec) {
            std::error_code ignored;
            std::filesystem::remove_all(tmp, ignored);
            throw store::StoreError(store::StoreErrorKind::Io, dst.string() + ": " + ec.message());
          }
        }
        std::filesystem::rename(tmp, dir, ec);
        if (ec) {
          std::error_code ignored;
          std::filesystem::remove_all(tmp, ignored);
          if (!std::filesystem::is_regular_file(dir / "config.json", ignored))
            throw store::StoreError(store::StoreErrorKind::Io, dir.string() + ": " + ec.message());
        }
      }
      store::ModelRecord from;
      from.dir = quantize_bits ? quantized(dir.string(), quantize_bits, sink).string() : dir.string();
      say("writing manifest");
      store_->create(r.model, from, layer);
    });
  }

  std::unique_ptr<store::Store> store_;
};

}  // namespace

std::unique_ptr<ModelCatalog> make_store_catalog() { return std::make_unique<StoreCatalog>(); }

}  // namespace ollmlx::service
