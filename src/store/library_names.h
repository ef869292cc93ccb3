// The built-in table from popular Ollama library names (registry.ollama.ai/library/<model>:<tag>)
// to their 4-bit mlx-community conversions on Hugging Face, so `ollmlx pull llama3.2` works as
// `ollama pull llama3.2` does. docs/STORE.md lists the table.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ollmlx::store {

struct LibraryEntry {
  std::string_view model;  // Ollama library model, e.g. "llama3.2"
  std::string_view tag;    // "latest" is the default size, e.g. "1b"
  std::string_view repo;   // Hugging Face repo id, e.g. "mlx-community/Llama-3.2-1B-Instruct-4bit"
};

// Every entry, in table order (grouped by model, default tag first).
std::span<const LibraryEntry> library_table();

// The repo for model:tag, matched case-insensitively; nullopt if the table has no such entry.
std::optional<std::string> library_repo(std::string_view model, std::string_view tag);

}  // namespace ollmlx::store
