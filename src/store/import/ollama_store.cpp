// Ollama store reader (ollama_store.h).
#include "store/import/ollama_store.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <set>

#include "store/files.h"
#include "store/names.h"
#include "store/sha256.h"
#include "store/store_error.h"

namespace ollmlx::store {
namespace {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

constexpr uint64_t kMaxManifestBytes = 1 << 20;
constexpr uint64_t kMaxSmallLayerBytes = 16 << 20;  // templates, params, licenses, messages
constexpr std::string_view kMediaPrefix = "application/vnd.ollama.image.";

std::optional<std::string> match_entry(const fs::path& dir, const std::string& part) {
  std::error_code ec;
  if (fs::exists(dir / part, ec)) return part;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    if (iequals(entry, part)) return entry;
  }
  return std::nullopt;
}

// <root>/manifests/<host>/<ns>/<model>/<tag>, exact or case-insensitive part by part.
std::optional<fs::path> manifest_path(const fs::path& root, const Name& n) {
  fs::path p = root / "manifests";
  for (const std::string& part : {n.host, n.ns, n.model, n.tag}) {
    auto e = match_entry(p, part);
    if (!e) return std::nullopt;
    p /= *e;
  }
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  return p;
}

// "sha256:<hex>" / "sha256-<hex>" -> blob path, as Ollama's BlobsPath (":" -> "-").
fs::path blob_path(const fs::path& root, const std::string& digest, const std::string& where) {
  bool ok = digest.size() == 71 && digest.compare(0, 6, "sha256") == 0 && (digest[6] == ':' || digest[6] == '-');
  for (size_t i = 7; ok && i < digest.size(); ++i) ok = std::isxdigit(static_cast<unsigned char>(digest[i])) != 0;
  if (!ok) throw_store(StoreErrorKind::Corrupt, "{}: invalid layer digest {}", where, go_quote(digest));
  return root / "blobs" / ("sha256-" + digest.substr(7));
}

std::string read_small_layer(const fs::path& blob, const std::string& digest, uint64_t size,
                             const std::string& where) {
  if (size > kMaxSmallLayerBytes)
    throw_store(StoreErrorKind::Corrupt, "{}: layer {} is too large ({} bytes)", where, digest, size);
  std::string bytes;
  try {
    bytes = read_file(blob, kMaxSmallLayerBytes);
  } catch (const StoreError& e) {
    throw_store(StoreErrorKind::Corrupt, "{}: cannot read layer {}: {}", where, digest, e.message());
  }
  if (bytes.size() != size)
    throw_store(StoreErrorKind::Corrupt, "{}: layer {} has {} bytes, the manifest says {}", where, digest,
                bytes.size(), size);
  std::string want = digest.substr(7);
  std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (sha256_hex(bytes) != want)
    throw_store(StoreErrorKind::Corrupt, "{}: layer {} does not match its digest", where, digest);
  return bytes;
}

OJson parse_json(const std::string& text, const std::string& what) {
  try {
    return OJson::parse(text);
  } catch (const std::exception& e) {
    throw_store(StoreErrorKind::Corrupt, "{}: invalid JSON: {}", what, e.what());
  }
}

}  // namespace

std::vector<fs::path> ollama_roots() {
  std::vector<fs::path> out;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    if (p.empty() || !fs::is_directory(p, ec)) return;
    const fs::path c = fs::weakly_canonical(p, ec);
    for (const fs::path& o : out)
      if (fs::weakly_canonical(o, ec) == c) return;
    out.push_back(p);
  };
  if (const std::string m = env("OLLAMA_MODELS"); !m.empty()) add(m);
  add(home_dir() / ".ollama" / "models");
#ifdef __linux__
  add("/usr/share/ollama/.ollama/models");
#endif
  return out;
}

OllamaModel read_ollama_model(std::string_view name_in, const std::vector<fs::path>& roots) {
  std::string_view name = name_in;
  if (name.rfind("ollama:", 0) == 0) name.remove_prefix(7);
  const Name n = Name::parse(name);
  if (!n.is_valid() || !n.digest.empty()) throw StoreError(StoreErrorKind::InvalidName, "invalid model name");
  OllamaModel m;
  for (const fs::path& root : roots) {
    if (auto p = manifest_path(root, n)) {
      m.root = root;
      m.manifest_path = *p;
      break;
    }
  }
  if (m.manifest_path.empty()) {
    std::vector<std::string> searched;
    for (const fs::path& r : roots) searched.push_back(r.string());
    throw_store(StoreErrorKind::NotFound, "model {} not found in the Ollama store (searched: {})",
                go_quote(std::string(name)), searched.empty() ? "no Ollama models directory exists" : fmt::format("{}", fmt::join(searched, ", ")));
  }
  m.name = n.full();
  m.display_name = n.display_shortest();
  const std::string where = m.manifest_path.string();
  std::string text;
  try {
    text = read_file(m.manifest_path, kMaxManifestBytes);
  } catch (const StoreError& e) {
    throw_store(StoreErrorKind::Corrupt, "{}", e.message());
  }
  const OJson man = parse_json(text, where);
  if (!man.is_object() || !man.contains("schemaVersion") || man["schemaVersion"] != 2)
    throw_store(StoreErrorKind::Corrupt, "{}: not an Ollama manifest (schemaVersion 2)", where);
  if (!man.contains("layers") || !man["layers"].is_array())
    throw_store(StoreErrorKind::Corrupt, "{}: manifest has no layers", where);

  struct Layer {
    std::string media, digest;
    uint64_t size;
  };
  auto layer_of = [&](const OJson& l, bool need_media_type = true) {
    const bool media = l.is_object() && l.contains("mediaType") && l["mediaType"].is_string();
    if (!l.is_object() || (need_media_type && !media) || !l.contains("digest") || !l["digest"].is_string() ||
        !l.contains("size") || !l["size"].is_number_unsigned())
      throw_store(StoreErrorKind::Corrupt, "{}: malformed layer", where);
    return Layer{media ? l["mediaType"].get<std::string>() : "", l["digest"].get<std::string>(),
                 l["size"].get<uint64_t>()};
  };
  if (man.contains("config") && man["config"].is_object() && man["config"].contains("digest")) {
    const Layer c = layer_of(man["config"], false);
    const fs::path p = blob_path(m.root, c.digest, where);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) m.config = parse_json(read_small_layer(p, c.digest, c.size, where), where + " config");
  }
  std::vector<Layer> models;
  std::vector<std::string> licenses;
  for (const OJson& l : man["layers"]) {
    const Layer layer = layer_of(l);
    if (layer.media.rfind(kMediaPrefix, 0) != 0) {
      m.notes.push_back(fmt::format("skipped layer {} of unknown type {}", layer.digest, go_quote(layer.media)));
      continue;
    }
    const std::string kind = layer.media.substr(kMediaPrefix.size());
    const fs::path p = blob_path(m.root, layer.digest, where);
    if (kind == "model") {
      models.push_back(layer);
    } else if (kind == "template" || kind == "prompt") {
      m.template_ = read_small_layer(p, layer.digest, layer.size, where);
    } else if (kind == "system") {
      m.system = read_small_layer(p, layer.digest, layer.size, where);
    } else if (kind == "license") {
      licenses.push_back(read_small_layer(p, layer.digest, layer.size, where));
    } else if (kind == "params") {
      m.parameters = parse_json(read_small_layer(p, layer.digest, layer.size, where), where + " params");
      if (!m.parameters.is_object()) throw_store(StoreErrorKind::Corrupt, "{}: params layer is not a JSON object", where);
    } else if (kind == "messages") {
      m.messages = parse_json(read_small_layer(p, layer.digest, layer.size, where), where + " messages");
      if (!m.messages.is_array()) throw_store(StoreErrorKind::Corrupt, "{}: messages layer is not a JSON array", where);
    } else if (kind == "projector") {
      m.notes.push_back("skipped the vision projector (ollmlx imports the text model only)");
    } else if (kind == "adapter") {
      throw_store(StoreErrorKind::NotMlx, "{} has a LoRA adapter layer, which ollmlx cannot import yet",
                  go_quote(std::string(name)));
    } else if (kind == "tensor" || kind == "json") {
      // newer safetensors-format models: no GGUF layer (checked below)
    } else {
      m.notes.push_back(fmt::format("skipped {} layer {}", kind, layer.digest));
    }
  }
  if (!licenses.empty()) m.license = fmt::format("{}", fmt::join(licenses, "\n"));
  if (models.empty()) {
    const bool safetensors = m.config.is_object() && m.config.value("model_format", "") == "safetensors";
    throw_store(StoreErrorKind::NotMlx, "{} has no GGUF model layer{}; ollmlx imports GGUF models only",
                go_quote(std::string(name)),
                safetensors ? " (it is stored as safetensors tensors, which ollmlx cannot import yet)" : "");
  }
  if (models.size() > 1)
    throw_store(StoreErrorKind::NotMlx, "{} has {} model layers; ollmlx imports single-file models only",
                go_quote(std::string(name)), models.size());
  m.model_digest = models[0].digest;
  m.model_digest[6] = ':';
  m.model_blob = blob_path(m.root, models[0].digest, where);
  m.model_size = models[0].size;
  std::error_code ec;
  const uintmax_t size = fs::file_size(m.model_blob, ec);
  if (ec) throw_store(StoreErrorKind::Corrupt, "{}: model blob {} is missing", where, m.model_blob.string());
  if (size != m.model_size)
    throw_store(StoreErrorKind::Corrupt, "{}: model blob {} has {} bytes, the manifest says {}", where,
                m.model_blob.string(), size, m.model_size);
  char magic[4] = {};
  std::ifstream in(m.model_blob, std::ios::binary);
  in.read(magic, 4);
  if (!in || std::memcmp(magic, "GGUF", 4) != 0)
    throw_store(StoreErrorKind::Corrupt, "{}: model blob {} is not a GGUF file", where, m.model_blob.string());
  return m;
}

std::vector<std::string> list_ollama_models(const std::vector<fs::path>& roots) {
  std::set<std::string> names;
  for (const fs::path& root : roots) {
    const fs::path dir = root / "manifests";
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it.depth() != 3) continue;
      std::error_code ec2;
      if (!it->is_regular_file(ec2)) continue;
      const fs::path rel = it->path().lexically_relative(dir);
      std::vector<std::string> parts;
      for (const auto& p : rel) parts.push_back(p.string());
      if (parts.size() != 4) continue;
      Name n;
      n.host = parts[0];
      n.ns = parts[1];
      n.model = parts[2];
      n.tag = parts[3];
      if (n.is_valid()) names.insert(n.display_shortest());
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace ollmlx::store
