// Store-level importers (importer.h).
#include "store/import/importer.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <set>

#include "format/model_dir.h"
#include "store/files.h"
#include "store/names.h"
#include "store/sha256.h"
#include "store/store_error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/log.h"

namespace ollmlx::store {
namespace {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

// Serialises "a conversion is put in place and named" against pruning, so a directory renamed
// into place a moment before its name is written is never taken for garbage.
std::mutex& import_mutex() {
  static std::mutex mu;
  return mu;
}

std::string file_sha256(const fs::path& path, const std::atomic<bool>* cancel) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw_store(StoreErrorKind::Io, "{}: cannot read: {}", path.string(), ec.message());
  Hasher h(Hasher::Algo::Sha256);
  // In slices so that a cancel is noticed within a few hundred MB.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw_store(StoreErrorKind::Io, "{}: cannot open", path.string());
  std::vector<char> buf(1 << 20);
  uintmax_t done = 0;
  while (done < size) {
    if (canceled(cancel)) {
      std::fclose(f);
      throw_store(StoreErrorKind::Canceled, "import canceled");
    }
    const size_t n = std::fread(buf.data(), 1, buf.size(), f);
    if (n == 0) break;
    h.update(buf.data(), n);
    done += n;
  }
  const bool err = std::ferror(f) != 0 || done != size;
  std::fclose(f);
  if (err) throw_store(StoreErrorKind::Io, "{}: read error", path.string());
  return h.hex_digest();
}

// A converted directory is usable when its record names this converter and config.json exists.
bool usable_conversion(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / "config.json", ec)) return false;
  try {
    const OJson rec = OJson::parse(read_file(dir / "ollmlx_import.json", 16 << 20));
    return rec.value("converter", "") == kImportConverterVersion;
  } catch (...) {
    return false;
  }
}

// Loads what the engine will load first, so a broken conversion is never named: the tokenizer
// (tokenizer.json + tokenizer_config.json + chat template) and the weights with the config.
void verify_conversion(const fs::path& dir) {
  format::ModelDir md = format::ModelDir::open(dir.string());
  (void)md;
  auto tok = tok::Tokenizer::load(dir.string());
  if (tok->vocab_size() <= 0) throw_error("gguf", "{}: the converted tokenizer is empty", dir.string());
}

}  // namespace

fs::path import_dir(const Store& store, const std::string& sha256, bool keep_quantized) {
  return store.config().models_dir / "imports" / ("gguf-" + sha256 + (keep_quantized ? "" : "-f16"));
}

ImportResult import_gguf(Store& store, const fs::path& gguf_path, std::string_view name,
                         const OJson& modelfile_layer, const ImportOptions& options) {
  auto progress = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  const Name n = Name::parse(name);
  if (!n.is_valid()) throw StoreError(StoreErrorKind::InvalidName, "invalid model name");
  std::error_code ec;
  if (!fs::is_regular_file(gguf_path, ec))
    throw_store(StoreErrorKind::NotFound, "{}: no such file", gguf_path.string());

  ImportResult res;
  std::string sha;
  if (options.sha256) {
    sha = *options.sha256;
  } else {
    progress("verifying sha256 digest");
    sha = file_sha256(gguf_path, options.cancel);
  }
  res.dir = import_dir(store, sha, options.convert.keep_quantized);

  // The GGUF's own metadata decides the template choice even when the conversion is reused.
  progress("parsing GGUF");
  const std::shared_ptr<gguf::File> file = gguf::File::open(gguf_path.string());
  if (const std::string why = gguf::unsupported_reason(file->header()); !why.empty())
    throw_error("gguf", "{}: {}", gguf_path.string(), why);
  const gguf::Value* ct = file->find("tokenizer.chat_template");
  const bool has_jinja = ct && ct->is_string() && !ct->s.empty();

  if (usable_conversion(res.dir)) {
    res.reused = true;
    progress(fmt::format("using existing conversion {}", res.dir.string()));
  } else {
    const fs::path parent = res.dir.parent_path();
    fs::create_directories(parent, ec);
    if (ec) throw_store(StoreErrorKind::Io, "{}: cannot create directory: {}", parent.string(), ec.message());
    const fs::path tmp = parent / (".tmp-" + res.dir.filename().string() + "-" + random_hex(8));
    fs::create_directory(tmp, ec);
    if (ec) throw_store(StoreErrorKind::Io, "{}: cannot create directory: {}", tmp.string(), ec.message());
    try {
      gguf::ConvertOptions copt = options.convert;
      copt.cancel = options.cancel;
      copt.log = [&](const std::string& line) { log::info("import {}: {}", gguf_path.string(), line); };
      progress("converting model");
      res.report = gguf::convert_to_mlx(*file, tmp, copt);
      if (!res.report->requantized.empty())
        progress(fmt::format("requantized {} tensor(s) with no exact MLX form to 8-bit", res.report->requantized.size()));
      if (!res.report->dequantized.empty())
        progress(fmt::format("dequantized {} tensor(s) with no exact MLX form to {}", res.report->dequantized.size(),
                             copt.dequant_f32 ? "float32" : "float16 (float32 where out of range)"));
      progress("verifying conversion");
      verify_conversion(tmp);
      OJson record;
      record["converter"] = kImportConverterVersion;
      record["source"] = OJson{{"type", "gguf"}, {"path", fs::absolute(gguf_path, ec).string()}, {"sha256", sha}};
      record["architecture"] = res.report->architecture;
      if (!res.report->general_name.empty()) record["general_name"] = res.report->general_name;
      record["chat_template"] = has_jinja ? "gguf tokenizer.chat_template (Jinja)" : "none";
      record["tensor_types"] = res.report->tensor_types;
      record["keep_quantized"] = copt.keep_quantized;
      record["dequantized"] = res.report->dequantized;
      record["requantized"] = res.report->requantized;
      record["quantization"] = res.report->quantization;
      write_file_atomic(tmp / "ollmlx_import.json", record.dump(2) + "\n");
      std::lock_guard<std::mutex> lock(import_mutex());
      fs::rename(tmp, res.dir, ec);
      if (ec) {
        // Another import of the same GGUF finished first: use it.
        if (!usable_conversion(res.dir))
          throw_store(StoreErrorKind::Io, "{}: cannot rename into place: {}", res.dir.string(), ec.message());
        fs::remove_all(tmp, ec);
        res.reused = true;
      }
    } catch (...) {
      std::error_code ignored;
      fs::remove_all(tmp, ignored);
      throw;
    }
  }
  if (canceled(options.cancel)) throw_store(StoreErrorKind::Canceled, "import canceled");

  OJson layer = modelfile_layer.is_object() ? modelfile_layer : OJson::object();
  if (layer.contains("template") && layer["template"].is_string()) {
    res.template_source = "request";
  } else if (has_jinja) {
    res.template_source = "gguf";
  } else {
    res.template_source = "none";
    res.notes.push_back("the GGUF has no chat template (tokenizer.chat_template): /api/chat needs a Jinja TEMPLATE");
  }
  ModelRecord from;
  from.dir = res.dir.string();
  progress("writing manifest");
  std::lock_guard<std::mutex> lock(import_mutex());
  if (!fs::is_regular_file(res.dir / "config.json", ec))  // pruned before the lock: convert again
    throw_store(StoreErrorKind::Io, "{}: the conversion was removed meanwhile; import again", res.dir.string());
  res.record = store.create(n.to_string(), from, layer);
  return res;
}

std::vector<fs::path> prune_imports(Store& store, std::chrono::seconds blob_grace) {
  std::lock_guard<std::mutex> lock(import_mutex());
  std::vector<fs::path> removed;
  const fs::path imports = store.config().models_dir / "imports";
  std::set<std::string> used;
  for (const ModelRecord& r : store.list()) {
    std::error_code ec;
    used.insert(fs::weakly_canonical(r.dir, ec).string());
  }
  std::set<std::string> sources;  // blobs converted by a remaining import
  std::error_code ec;
  for (auto it = fs::directory_iterator(imports, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("gguf-", 0) != 0 && name.rfind("files-", 0) != 0 && name.rfind("quant-", 0) != 0)
      continue;
    if (name.find(".tmp-") != std::string::npos) continue;
    std::error_code ec2;
    if (used.count(fs::weakly_canonical(it->path(), ec2).string())) {
      try {
        const OJson rec = OJson::parse(read_file(it->path() / "ollmlx_import.json", 16 << 20));
        if (rec.contains("source") && rec["source"].contains("sha256") && rec["source"]["sha256"].is_string())
          sources.insert(rec["source"]["sha256"].get<std::string>());
      } catch (...) {
      }
      continue;
    }
    fs::remove_all(it->path(), ec2);
    if (!ec2) removed.push_back(it->path());
  }
  const fs::path blobs = store.config().models_dir / "blobs";
  const auto now = std::chrono::system_clock::now();
  for (auto it = fs::directory_iterator(blobs, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("sha256-", 0) != 0 || name.size() != 71) continue;  // partial uploads: skipped
    if (sources.count(name.substr(7))) continue;
    if (now - file_mtime(it->path()) < blob_grace) continue;
    std::error_code ec2;
    fs::remove(it->path(), ec2);
    if (!ec2) removed.push_back(it->path());
  }
  return removed;
}

ImportResult import_ollama(Store& store, std::string_view ollama_name, std::string_view name,
                           const OJson& modelfile_layer, const ImportOptions& options,
                           const std::vector<fs::path>& roots) {
  auto progress = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  progress("reading Ollama manifest");
  const OllamaModel om = read_ollama_model(ollama_name, roots);
  const std::string target = name.empty() ? om.display_name : std::string(name);
  if (!Name::parse(target).is_valid()) throw StoreError(StoreErrorKind::InvalidName, "invalid model name");
  for (const std::string& note : om.notes) progress(note);

  ImportOptions opt = options;
  // The blob's name is its sha256 (Ollama verified it when pulling); check it again while
  // reading, as a corrupt blob would otherwise convert into a silently broken model.
  progress(fmt::format("verifying sha256 digest of {}", om.model_digest));
  std::string want = om.model_digest.substr(7);
  std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string got = file_sha256(om.model_blob, options.cancel);
  if (got != want)
    throw_store(StoreErrorKind::DigestMismatch, "digest mismatch in the Ollama store: {} has sha256:{}",
                om.model_blob.string(), got);
  opt.sha256 = got;

  // The Modelfile layer: Ollama's layers, then what the caller overrides.
  OJson layer = OJson::object();
  if (om.system) layer["system"] = *om.system;
  if (om.parameters.is_object() && !om.parameters.empty()) layer["parameters"] = om.parameters;
  if (om.messages.is_array() && !om.messages.empty()) layer["messages"] = om.messages;
  if (om.license) layer["license"] = *om.license;
  const std::shared_ptr<gguf::File> file = gguf::File::open(om.model_blob.string());
  const gguf::Value* ct = file->find("tokenizer.chat_template");
  const bool has_jinja = ct && ct->is_string() && !ct->s.empty();
  if (has_jinja) {
    layer["template"] = tok::unicode::to_valid_utf8(ct->s);
    layer["template_source"] = "gguf";
    if (om.template_) progress("using the GGUF's Jinja chat template instead of Ollama's Go template");
  } else if (om.template_) {
    layer["template_source"] = "ollama-go-template (not used)";
    layer["ollama_template"] = *om.template_;
  }
  if (modelfile_layer.is_object())
    for (const auto& [k, v] : modelfile_layer.items()) {
      if (k == "parameters" && v.is_object() && layer.contains("parameters")) {
        for (const auto& [pk, pv] : v.items()) layer["parameters"][pk] = pv;
      } else {
        layer[k] = v;
      }
    }
  ImportResult res = import_gguf(store, om.model_blob, target, layer, opt);
  res.notes.insert(res.notes.begin(), om.notes.begin(), om.notes.end());
  if (!has_jinja && om.template_)
    res.notes.push_back("Ollama's TEMPLATE is a Go template, which ollmlx does not run, and the GGUF has "
                        "no Jinja chat template: set a Jinja TEMPLATE to chat with this model");
  if (has_jinja && !(modelfile_layer.is_object() && modelfile_layer.contains("template")))
    res.template_source = "gguf";
  else if (!has_jinja && om.template_ && res.template_source == "none")
    res.template_source = "ollama-go-template (not used)";
  // Record the Ollama source next to the conversion.
  try {
    const fs::path rec_path = res.dir / "ollmlx_import.json";
    OJson rec = OJson::parse(read_file(rec_path, 16 << 20));
    rec["ollama"] = OJson{{"name", om.name}, {"root", om.root.string()}, {"digest", om.model_digest},
                          {"template_source", res.template_source}};
    if (om.template_) rec["ollama"]["template"] = *om.template_;
    write_file_atomic(rec_path, rec.dump(2) + "\n");
  } catch (const std::exception& e) {
    log::warn("import {}: cannot update the import record: {}", om.name, e.what());
  }
  return res;
}

}  // namespace ollmlx::store
