// GGUF -> MLX model directory, natively (no Python at run time). The output is what
// tools/gguf_to_mlx.py writes for the same file -- the spec this code reproduces:
//
//   model.safetensors (or model-0000k-of-0000N.safetensors, 5 GiB shards) + the index
//       byte-identical tensors: Q4_0/Q4_1/Q8_0 re-packed losslessly as MLX affine 4/8-bit with
//       group size 32; F32/F16/BF16 copied; every other supported type (Q5_0, Q5_1, Q2_K..Q6_K)
//       dequantized to float16 (float32 where a value is out of f16 range, or with
//       dequant_f32) and listed in the report; llama Q/K rows un-permuted (GGUF row
//       h*hd + 2b + a -> HF row h*hd + a*hd/2 + b), on raw quantized rows;
//   config.json (+ the MLX "quantization" block, per-module overrides for mixed files),
//   tokenizer.json + tokenizer_config.json (rebuilt from tokenizer.ggml.*, the chat template
//       from tokenizer.chat_template), generation_config.json (eos = eos/eot/eom ids).
//
// Supported: architectures "llama" (Llama 2/3.x, SmolLM2, Mistral-as-llama; the Python
// prototype's scope), "qwen2", "qwen3", "gemma2", "gemma3" (gguf_gemma.h) and "phi3"; byte-level BPE
// tokenizers ("gpt2" model; pre-tokenizers llama3/llama-bpe family, qwen2 family, smollm family,
// gpt-2 family, default) and SentencePiece BPE ("llama" model, gguf_spm.h). Anything else is
// refused with a message naming what is unsupported, before anything is written.
// Errors: Error("gguf", "<file>: ...").
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/import/gguf.h"

namespace ollmlx::gguf {

struct ConvertOptions {
  bool dequant_f32 = false;                 // float32 for dequantized tensors (Python --dequant-dtype)
  uint64_t max_shard_bytes = uint64_t{5} << 30;  // mlx-lm's make_shards limit
  std::function<void(const std::string&)> log;   // progress lines (may be empty)
  const std::atomic<bool>* cancel = nullptr;     // set: stop between tensors (StoreError Canceled)
  bool dry_run = false;                          // validate and plan only; write nothing
  // Keep the other quantized types quantized as MLX affine (gguf_quants.h): Q4_K, Q5_K, Q3_K,
  // Q5_0, Q5_1 exactly (4/5/8-bit, group 32, f32 scales where f16 would round), Q6_K and Q2_K
  // requantized to 8-bit. Off (the default): dequantized to float16 as tools/gguf_to_mlx.py
  // does -- about 3.5x the size for a Q4_K_M file. The importers turn it on.
  bool keep_quantized = false;
  // With keep_quantized: Q6_K and Q2_K (no exact MLX form) requantized to 8-bit (true: the
  // smallest, not exact) or dequantized as without it (false; the importers' choice).
  bool requantize = true;
};

struct ConvertReport {
  std::string architecture;
  int64_t layers = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  bool tied = false;
  std::map<std::string, int> tensor_types;   // ggml type name -> tensor count
  std::vector<std::string> dequantized;      // "blk.0.ffn_gate.weight (Q5_0 -> float16)"
  std::vector<std::string> requantized;      // keep_quantized: "blk.0.attn_v.weight (Q6_K -> 8-bit)"
  nlohmann::ordered_json quantization;       // the config's block (null when unquantized)
  bool has_chat_template = false;            // tokenizer.chat_template (Jinja) was present
  uint64_t total_size = 0;                   // bytes of tensor data written
  int64_t total_parameters = 0;
  int shards = 0;
  std::string general_name;                  // general.name, if any
};

// Converts `file` into `out_dir`, which must exist and be empty. Everything (metadata, tensor
// names, types and shapes, tokenizer) is validated before the first byte is written; with
// dry_run nothing is written. Throws Error("gguf", ...) on unsupported or malformed input.
ConvertReport convert_to_mlx(const File& file, const std::filesystem::path& out_dir,
                             const ConvertOptions& options = {});

// The part of convert_to_mlx that rebuilds the tokenizer: the texts of tokenizer.json and
// tokenizer_config.json, and {bos_token_id, eos_token_id, pad_token_id, eos_ids} (ids may be
// null). Throws Error("gguf", ...) for tokenizer metadata it cannot convert.
struct TokenizerFiles {
  std::string tokenizer_json, tokenizer_config_json;
  nlohmann::ordered_json ids;
};
TokenizerFiles build_tokenizer_files(const Header& header, const std::string& file,
                                     const Value* context_length);

// Why a GGUF cannot be imported (architecture, tokenizer, split file), or "" when it looks
// convertible. Cheap: reads the metadata only.
std::string unsupported_reason(const Header& header);

}  // namespace ollmlx::gguf
