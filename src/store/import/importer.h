// Store-level importers (issue 5): a GGUF file, or a model from the user's Ollama store, becomes
// an MLX model directory owned by ollmlx plus a model name in the store.
//
//   converted directory  $OLLMLX_MODELS/imports/gguf-<sha256 of the GGUF>/   (content-addressed:
//                        importing the same GGUF again reuses it; written under a temporary
//                        name and renamed when complete and verified; "-f16" is appended when
//                        the conversion dequantizes as tools/gguf_to_mlx.py does)
//     config.json, model.safetensors, tokenizer files ... (gguf_convert.h)
//     ollmlx_import.json  what was converted, from where, and which chat template was chosen
//   name                 Store::create(name, local directory, Modelfile layer)
//
// The Modelfile layer of an Ollama import carries Ollama's system prompt, parameters, messages
// and license. Its template: Ollama's TEMPLATE is a Go text/template, which ollmlx does not run;
// when the GGUF has a Jinja chat template (tokenizer.chat_template, which Ollama itself prefers)
// the layer's "template" is that Jinja text and "template_source" is "gguf"; otherwise there is
// no "template", "template_source" is "ollama-go-template (not used)" and the Go text is kept as
// "ollama_template" for reference. Every step is reported as a progress status line.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/import/gguf_convert.h"
#include "store/import/ollama_store.h"
#include "store/store.h"

namespace ollmlx::store {

// Bump when the converter's output for the same GGUF changes: older conversions are redone.
inline constexpr const char* kImportConverterVersion = "ollmlx-gguf-1";

struct ImportOptions {
  std::function<void(const std::string& status)> progress;  // e.g. "converting model"
  const std::atomic<bool>* cancel = nullptr;
  // The GGUF's sha256 when already known and verified (an uploaded blob); else it is computed.
  std::optional<std::string> sha256;
  // Its log/cancel are filled in by the importer. keep_quantized is on by default here: K-quants
  // and Q5 types stay quantized exactly instead of growing to float16; Q6_K/Q2_K, which have
  // no exact MLX form, are dequantized to float16 rather than requantized to 8-bit: every
  // value then stays within float16 rounding of llama.cpp's, and Gemma-3-270M's import gives
  // mlx-lm's greedy tokens, which 8-bit requantization does not (tests/unit/import).
  gguf::ConvertOptions convert = [] {
    gguf::ConvertOptions o;
    o.keep_quantized = true;
    o.requantize = false;
    return o;
  }();
};

struct ImportResult {
  ModelRecord record;
  std::filesystem::path dir;         // the MLX directory the name points at
  bool reused = false;               // an earlier conversion of the same GGUF was reused
  std::optional<gguf::ConvertReport> report;  // absent when reused
  std::string template_source;       // "gguf", "ollama-go-template (not used)", "request", "none"
  std::vector<std::string> notes;    // what was skipped or needs the user's attention
};

// Converts `gguf_path` (or reuses its earlier conversion) and names it `name` with
// `modelfile_layer` (as Store::create takes it). Throws StoreError (InvalidName, Io, Canceled)
// or Error("gguf", ...) for a file that cannot be imported (malformed, unsupported architecture,
// tokenizer or tensor type) -- nothing is named then.
ImportResult import_gguf(Store& store, const std::filesystem::path& gguf_path, std::string_view name,
                         const nlohmann::ordered_json& modelfile_layer, const ImportOptions& options = {});

// Imports `ollama_name` ("llama3.2", "ollama:qwen2.5:7b", ...) from the Ollama store in `roots`
// (read only) as `name` (empty: the same name). `modelfile_layer` overrides what Ollama's layers
// say. Throws StoreError NotFound when the Ollama store has no such model.
ImportResult import_ollama(Store& store, std::string_view ollama_name, std::string_view name,
                           const nlohmann::ordered_json& modelfile_layer = nlohmann::ordered_json::object(),
                           const ImportOptions& options = {},
                           const std::vector<std::filesystem::path>& roots = ollama_roots());

// The directory an import of a GGUF with this sha256 uses (per conversion mode).
std::filesystem::path import_dir(const Store& store, const std::string& sha256, bool keep_quantized = true);

// After a model is removed: deletes the import directories ($OLLMLX_MODELS/imports/gguf-* and
// files-*) no model name points at any more, and uploaded blobs older than `blob_grace` that
// are not the source of a remaining conversion. Imports in progress are never touched (they hold
// the same process-wide lock, and their temporary directories are skipped). Returns the paths
// removed.
std::vector<std::filesystem::path> prune_imports(
    Store& store, std::chrono::seconds blob_grace = std::chrono::hours(1));

}  // namespace ollmlx::store
