// Writes safetensors files exactly as MLX's mx.save_safetensors does (what mlx-lm and
// tools/gguf_to_mlx.py write): a compact JSON header with sorted keys and "__metadata__", no
// padding, and the tensor data in the iteration order of the std::unordered_map MLX receives
// the arrays in (built from a dict in sorted-key order). With libstdc++ this gives byte-identical
// files to the Python tooling on Linux; any order would load the same.
//
// Tensors are produced one at a time by a callback, so a model is never held in memory whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ollmlx::gguf {

struct PlannedTensor {
  std::string name;
  std::string dtype;            // safetensors dtype: "F32", "F16", "BF16", "U32", ...
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;
};

// The order MLX writes the data of these names in (indices into `names`).
std::vector<size_t> mlx_data_order(const std::vector<std::string>& names);

// The header bytes (without the 8-byte length) for `tensors` laid out in `order`.
std::string safetensors_header(const std::vector<PlannedTensor>& tensors,
                               const std::vector<size_t>& order,
                               const std::map<std::string, std::string>& metadata);

// Writes `path` (created, fsynced): header, then each tensor's bytes from `produce(index, out)`,
// which must fill `out` with exactly tensors[index].nbytes bytes. Throws Error("gguf", ...) on
// I/O failure or a size mismatch.
void write_safetensors(const std::filesystem::path& path, const std::vector<PlannedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata,
                       const std::function<void(size_t, std::vector<uint8_t>&)>& produce);

// What write_mlx_shards wrote.
struct MlxShards {
  std::map<std::string, std::string> weight_map;  // tensor name -> its file
  uint64_t total_size = 0;                        // bytes of tensor data
  int files = 0;
  // model.safetensors.index.json as mlx-lm's save_model writes it (json.dump with indent 4, no
  // final newline): metadata total_size / total_parameters and the sorted weight_map.
  std::string index_json(int64_t total_parameters) const;
};

// Writes `tensors` (in the order given, normally sorted by name) into `dir` as mlx-lm's
// save_model cuts them: consecutive shards of at most `max_shard_bytes` (a tensor larger than
// that gets a shard of its own), "model.safetensors" when there is one, else
// "model-0000i-of-0000n.safetensors", each with {"format": "mlx"} metadata. `produce(i, out)`
// fills tensor i's bytes; `log` gets a "writing <file> (<n> tensors)" line per shard.
MlxShards write_mlx_shards(const std::filesystem::path& dir, const std::vector<PlannedTensor>& tensors,
                           uint64_t max_shard_bytes, const std::function<void(const std::string&)>& log,
                           const std::function<void(size_t, std::vector<uint8_t>&)>& produce);

}  // namespace ollmlx::gguf
