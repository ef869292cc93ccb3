// The Ollama-name -> mlx-community table. Defaults follow Ollama's library (the untagged name is
// the size Ollama's `latest` points at); every repo is an instruct/chat 4-bit MLX conversion.
#include "store/library_names.h"

#include <array>

#include "store/names.h"

namespace ollmlx::store {
namespace {

constexpr std::array kTable = {
    // Llama 3.2 (Ollama default: 3b)
    LibraryEntry{"llama3.2", "latest", "mlx-community/Llama-3.2-3B-Instruct-4bit"},
    LibraryEntry{"llama3.2", "1b", "mlx-community/Llama-3.2-1B-Instruct-4bit"},
    LibraryEntry{"llama3.2", "3b", "mlx-community/Llama-3.2-3B-Instruct-4bit"},
    // Llama 3.1 / 3 (default: 8b)
    LibraryEntry{"llama3.1", "latest", "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"},
    LibraryEntry{"llama3.1", "8b", "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"},
    LibraryEntry{"llama3.1", "70b", "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit"},
    LibraryEntry{"llama3", "latest", "mlx-community/Meta-Llama-3-8B-Instruct-4bit"},
    LibraryEntry{"llama3", "8b", "mlx-community/Meta-Llama-3-8B-Instruct-4bit"},
    LibraryEntry{"llama3", "70b", "mlx-community/Meta-Llama-3-70B-Instruct-4bit"},
    // Mistral 7B Instruct v0.3 (default: 7b)
    LibraryEntry{"mistral", "latest", "mlx-community/Mistral-7B-Instruct-v0.3-4bit"},
    LibraryEntry{"mistral", "7b", "mlx-community/Mistral-7B-Instruct-v0.3-4bit"},
    // Phi (phi3.5 default: 3.8b; phi3 default: mini)
    LibraryEntry{"phi3.5", "latest", "mlx-community/Phi-3.5-mini-instruct-4bit"},
    LibraryEntry{"phi3.5", "3.8b", "mlx-community/Phi-3.5-mini-instruct-4bit"},
    LibraryEntry{"phi3", "latest", "mlx-community/Phi-3-mini-4k-instruct-4bit"},
    LibraryEntry{"phi3", "mini", "mlx-community/Phi-3-mini-4k-instruct-4bit"},
    LibraryEntry{"phi3", "3.8b", "mlx-community/Phi-3-mini-4k-instruct-4bit"},
    LibraryEntry{"phi4", "latest", "mlx-community/phi-4-4bit"},
    LibraryEntry{"phi4", "14b", "mlx-community/phi-4-4bit"},
    // Gemma 2 (default: 9b)
    LibraryEntry{"gemma2", "latest", "mlx-community/gemma-2-9b-it-4bit"},
    LibraryEntry{"gemma2", "2b", "mlx-community/gemma-2-2b-it-4bit"},
    LibraryEntry{"gemma2", "9b", "mlx-community/gemma-2-9b-it-4bit"},
    LibraryEntry{"gemma2", "27b", "mlx-community/gemma-2-27b-it-4bit"},
    // Gemma 3 (default: 4b)
    LibraryEntry{"gemma3", "latest", "mlx-community/gemma-3-4b-it-4bit"},
    LibraryEntry{"gemma3", "270m", "mlx-community/gemma-3-270m-it-4bit"},
    LibraryEntry{"gemma3", "1b", "mlx-community/gemma-3-1b-it-4bit"},
    LibraryEntry{"gemma3", "4b", "mlx-community/gemma-3-4b-it-4bit"},
    LibraryEntry{"gemma3", "12b", "mlx-community/gemma-3-12b-it-4bit"},
    LibraryEntry{"gemma3", "27b", "mlx-community/gemma-3-27b-it-4bit"},
    // Qwen 2.5 (default: 7b)
    LibraryEntry{"qwen2.5", "latest", "mlx-community/Qwen2.5-7B-Instruct-4bit"},
    LibraryEntry{"qwen2.5", "0.5b", "mlx-community/Qwen2.5-0.5B-Instruct-4bit"},
    LibraryEntry{"qwen2.5", "1.5b", "mlx-community/Qwen2.5-1.5B-Instruct-4bit"},
    LibraryEntry{"qwen2.5", "3b", "mlx-community/Qwen2.5-3B-Instruct-4bit"},
    LibraryEntry{"qwen2.5", "7b", "mlx-community/Qwen2.5-7B-Instruct-4bit"},
    LibraryEntry{"qwen2.5", "14b", "mlx-community/Qwen2.5-14B-Instruct-4bit"},
    LibraryEntry{"qwen2.5", "32b", "mlx-community/Qwen2.5-32B-Instruct-4bit"},
    LibraryEntry{"qwen2.5", "72b", "mlx-community/Qwen2.5-72B-Instruct-4bit"},
    // Qwen 2.5 Coder (default: 7b)
    LibraryEntry{"qwen2.5-coder", "latest", "mlx-community/Qwen2.5-Coder-7B-Instruct-4bit"},
    LibraryEntry{"qwen2.5-coder", "0.5b", "mlx-community/Qwen2.5-Coder-0.5B-Instruct-4bit"},
    LibraryEntry{"qwen2.5-coder", "1.5b", "mlx-community/Qwen2.5-Coder-1.5B-Instruct-4bit"},
    LibraryEntry{"qwen2.5-coder", "3b", "mlx-community/Qwen2.5-Coder-3B-Instruct-4bit"},
    LibraryEntry{"qwen2.5-coder", "7b", "mlx-community/Qwen2.5-Coder-7B-Instruct-4bit"},
    LibraryEntry{"qwen2.5-coder", "14b", "mlx-community/Qwen2.5-Coder-14B-Instruct-4bit"},
    LibraryEntry{"qwen2.5-coder", "32b", "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"},
    // Qwen 3 (default: 8b)
    LibraryEntry{"qwen3", "latest", "mlx-community/Qwen3-8B-4bit"},
    LibraryEntry{"qwen3", "0.6b", "mlx-community/Qwen3-0.6B-4bit"},
    LibraryEntry{"qwen3", "1.7b", "mlx-community/Qwen3-1.7B-4bit"},
    LibraryEntry{"qwen3", "4b", "mlx-community/Qwen3-4B-4bit"},
    LibraryEntry{"qwen3", "8b", "mlx-community/Qwen3-8B-4bit"},
    LibraryEntry{"qwen3", "14b", "mlx-community/Qwen3-14B-4bit"},
    LibraryEntry{"qwen3", "30b", "mlx-community/Qwen3-30B-A3B-4bit"},
    LibraryEntry{"qwen3", "32b", "mlx-community/Qwen3-32B-4bit"},
    LibraryEntry{"qwen3", "235b", "mlx-community/Qwen3-235B-A22B-4bit"},
    // SmolLM2 (default: 1.7b)
    LibraryEntry{"smollm2", "latest", "mlx-community/SmolLM2-1.7B-Instruct-4bit"},
    LibraryEntry{"smollm2", "135m", "mlx-community/SmolLM2-135M-Instruct-4bit"},
    LibraryEntry{"smollm2", "360m", "mlx-community/SmolLM2-360M-Instruct-4bit"},
    LibraryEntry{"smollm2", "1.7b", "mlx-community/SmolLM2-1.7B-Instruct-4bit"},
};

}  // namespace

std::span<const LibraryEntry> library_table() { return kTable; }

std::optional<std::string> library_repo(std::string_view model, std::string_view tag) {
  for (const LibraryEntry& e : kTable)
    if (iequals(e.model, model) && iequals(e.tag, tag)) return std::string(e.repo);
  return std::nullopt;
}

}  // namespace ollmlx::store
