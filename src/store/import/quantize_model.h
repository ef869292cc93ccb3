// Quantization on import (issue 5, `ollmlx import --quantize q4|q8`, /api/create "quantize"):
// a model directory with float weights (F32/F16/BF16, MLX or Hugging Face safetensors) becomes an
// MLX affine-quantized directory, the files `mlx_lm.convert --quantize --q-bits B
// --q-group-size 64` writes for it:
//   * every float parameter is first cast to the config's "torch_dtype" (or text_config's
//     "dtype") when that is float16/bfloat16/float32, as mlx_lm.convert does;
//   * every 2-D "<module>.weight" whose last dimension is a multiple of the group size (the
//     Linear and Embedding layers of the supported architectures; mlx-lm quantizes the modules
//     that can be quantized and skip those whose width does not divide) is quantized with MLX's
//     affine algorithm (gguf::mlx_quantize_group, the CPU kernel's arithmetic) into
//     "<module>.weight" (U32), ".scales" and ".biases" (in the cast dtype);
//   * "quantization" and "quantization_config" = {"group_size", "bits", "mode": "affine"} are
//     added to config.json (keys sorted, "_name_or_path" dropped, as mlx-lm's save_config);
//   * tensors mlx-lm's sanitize drops everywhere are left out (rotary "inv_freq" buffers, and
//     "lm_head.weight" of a model with tied embeddings); tokenizer and other small files are
//     copied unchanged.
// An already quantized model (a "quantization"/"quantization_config" block or ".scales"
// tensors) is refused: re-quantizing quantized weights would lose precision silently.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace ollmlx::gguf {

struct QuantizeOptions {
  int bits = 4;          // 4 or 8
  int group_size = 64;   // mlx_lm.convert's default for affine
  uint64_t max_shard_bytes = uint64_t{5} << 30;  // mlx-lm's make_shards limit
  std::function<void(const std::string&)> log;   // progress lines
  const std::atomic<bool>* cancel = nullptr;
};

struct QuantizeReport {
  int quantized = 0;       // tensors quantized
  int kept = 0;            // tensors written as float (norms, biases, narrow layers)
  int dropped = 0;         // tensors left out (inv_freq, tied lm_head)
  std::string dtype;       // the dtype floats were cast to ("" = kept as they were)
  uint64_t total_size = 0; // bytes of tensor data written
};

// Parses a user's quantization level: "q4" -> 4, "q8" -> 8 (case-insensitive). Throws
// Error("quantize", ...) naming the accepted values for anything else.
int parse_quantize_level(const std::string& level);

// Writes the quantized model of `src` into the new directory `dst` (which must not exist; it is
// created, and removed again if anything fails). Throws Error("quantize", ...) for a model that
// cannot be quantized, Error("safetensors"/"weights", ...) for a malformed one, and
// StoreError(Canceled) when `cancel` is set.
QuantizeReport quantize_model_dir(const std::filesystem::path& src, const std::filesystem::path& dst,
                                  const QuantizeOptions& options);

}  // namespace ollmlx::gguf
