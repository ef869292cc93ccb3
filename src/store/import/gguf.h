// Reader for GGUF files (llama.cpp's model container, versions 2 and 3, little-endian): the
// metadata key/values and the tensor table, with every tensor a view of the memory-mapped file.
//
//   header:  "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   kv:      string key | u32 value_type | value          (arrays: u32 elem_type | u64 n | elems)
//   tensors: string name | u32 n_dims | i64 ne[n_dims] | u32 ggml_type | u64 offset
//   padding to general.alignment (default 32), then the data; tensor i at data_start + offset_i
//
// Every file is untrusted (an upload, a blob in someone's Ollama store): all counts, lengths,
// offsets and sizes are checked before use, and any violation throws
// Error("gguf", "<file>: <what is wrong>") -- never a crash or a read outside the file.
// The checks follow llama.cpp's gguf.cpp (gguf_init_from_reader): version, big-endian files,
// string and array lengths, duplicate keys and tensor names, names under 64 bytes, at most 4
// dimensions, no negative or overflowing sizes, rows a whole number of blocks, known types,
// general.alignment a power of two, offsets aligned and each tensor inside the file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/mapped_file.h"

namespace ollmlx::gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
const char* to_string(ValueType t);

// One metadata value. Scalars hold their value; arrays of strings hold views into the file,
// numeric and bool arrays hold their elements as double (exact up to 2^53).
struct Value {
  ValueType type = ValueType::U8;
  ValueType elem_type = ValueType::U8;  // arrays only
  // Scalars (set according to type).
  int64_t i = 0;     // every integer type and bool (u64 above INT64_MAX: see is_big)
  uint64_t u = 0;    // unsigned view of the integer types
  double f = 0;      // every numeric type (floats exactly, integers converted)
  std::string_view s;
  // Arrays.
  std::vector<std::string_view> strings;  // elem_type String
  std::vector<double> numbers;            // numeric and bool elements

  bool is_array() const { return type == ValueType::Array; }
  bool is_string() const { return type == ValueType::String; }
  bool is_integer() const;  // u8..i64 scalars (not bool, not float)
  bool is_number() const;   // integers and floats
  size_t size() const { return is_string_array() ? strings.size() : numbers.size(); }
  bool is_string_array() const { return is_array() && elem_type == ValueType::String; }
  bool is_big() const { return type == ValueType::U64 && u > static_cast<uint64_t>(INT64_MAX); }
};

// ggml tensor types (ggml.h / gguf-py constants.py GGMLQuantizationType).
enum class TensorType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9, Q2_K = 10,
  Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18,
  IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26,
  I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40,
  Q1_0 = 41,
};

struct TypeTraits {
  const char* name;
  int64_t block_size;  // elements per block (along ne[0])
  int64_t type_size;   // bytes per block
};
// Traits of a type id as stored in a file, or nullptr when the id is unknown or removed.
const TypeTraits* type_traits(uint32_t type);
std::string type_name(uint32_t type);  // "Q4_K", or "type 31" for an unknown id

struct TensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous (input) dimension
  uint32_t type = 0;
  uint64_t offset = 0;      // relative to the data section
  uint64_t nbytes = 0;
  int64_t elements = 0;
  const uint8_t* data = nullptr;  // into the file's bytes (valid for nbytes)

  TensorType ttype() const { return static_cast<TensorType>(type); }
  // Shape as Hugging Face / MLX write it: ne reversed.
  std::vector<int64_t> hf_shape() const { return {ne.rbegin(), ne.rend()}; }
};

struct Header {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_start = 0;
  std::vector<std::pair<std::string, Value>> kv;  // file order
  std::vector<TensorInfo> tensors;                // file order
  std::map<std::string, size_t> kv_index;         // key -> index in kv
  std::map<std::string, size_t> tensor_index;     // name -> index in tensors

  const Value* find(std::string_view key) const;
  const TensorInfo* tensor(std::string_view name) const;
};

// Limits on what a file may declare (far above any real model; they bound allocations).
inline constexpr size_t kMaxNameBytes = 63;          // ggml's GGML_MAX_NAME - 1
inline constexpr int kMaxDims = 4;                   // GGML_MAX_DIMS

// Parses and validates the whole header of a GGUF file held in memory (`size` bytes: the whole
// file, so tensor data can be checked to lie inside it). `display_name` names the file in errors.
Header parse(const uint8_t* data, size_t size, const std::string& display_name);

// A GGUF file mapped read-only; tensors view the mapping (keep the File alive while using them).
class File {
 public:
  static std::shared_ptr<File> open(const std::string& path);
  const std::string& path() const { return file_->path(); }
  const Header& header() const { return header_; }
  const Value* find(std::string_view key) const { return header_.find(key); }
  size_t size() const { return file_->size(); }

 private:
  std::shared_ptr<MappedFile> file_;
  Header header_;
};

// True when the first bytes are GGUF's magic ("GGUF").
bool has_gguf_magic(const uint8_t* data, size_t size);

}  // namespace ollmlx::gguf
