// Read-only access to a user's Ollama model store (reference §7), for `ollmlx import ollama:<name>`
// and /api/create's "from": "ollama:<name>". ollmlx never writes there.
//
//   <root>/manifests/<host>/<namespace>/<model>/<tag>   JSON: schemaVersion 2, config, layers
//   <root>/blobs/sha256-<64 hex>                        content-addressed layer bytes
//
// Roots, first match wins: $OLLAMA_MODELS, ~/.ollama/models, and on Linux the system service's
// /usr/share/ollama/.ollama/models. Names parse with Ollama's grammar and defaults
// (registry.ollama.ai/library/<model>:latest); a lookup tries the exact path, then each part
// case-insensitively. Layers used: model (GGUF, exactly one), template (Go text/template),
// system, params (JSON object), messages (JSON array), license (joined); projectors (vision) are
// skipped with a note, adapters refused. Manifests, small layers and blob sizes are validated;
// small layers' sha256 is checked.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::store {

struct OllamaModel {
  std::string name;                      // "registry.ollama.ai/library/llama3.2:latest"
  std::string display_name;              // "llama3.2:latest"
  std::filesystem::path root;            // the models directory it was found in
  std::filesystem::path manifest_path;
  std::string model_digest;              // "sha256:<hex>" of the GGUF layer
  std::filesystem::path model_blob;
  uint64_t model_size = 0;
  std::optional<std::string> template_;  // Go template (not Jinja)
  std::optional<std::string> system;
  std::optional<std::string> license;
  nlohmann::ordered_json parameters;     // object or null
  nlohmann::ordered_json messages;       // array or null
  nlohmann::ordered_json config;         // the config blob (object) or null
  std::vector<std::string> notes;        // what was skipped, e.g. a vision projector
};

// The candidate roots that exist, in search order ($OLLAMA_MODELS, ~/.ollama/models,
// /usr/share/ollama/.ollama/models).
std::vector<std::filesystem::path> ollama_roots();

// Finds and reads `name` ("llama3.2", "qwen2.5:7b", "user/model:tag"; an "ollama:" prefix is
// allowed) in `roots`. Throws StoreError: InvalidName, NotFound (`model "x" not found in the
// Ollama store (searched: ...)`), Corrupt (unreadable manifest/blob, wrong size, digest
// mismatch of a small layer, not a GGUF), NotMlx (no GGUF layer: safetensors-format models,
// adapters).
OllamaModel read_ollama_model(std::string_view name, const std::vector<std::filesystem::path>& roots);

// Every model name in `roots` ("llama3.2:latest", ...), sorted, duplicates (same name in two
// roots) once.
std::vector<std::string> list_ollama_models(const std::vector<std::filesystem::path>& roots);

}  // namespace ollmlx::store
