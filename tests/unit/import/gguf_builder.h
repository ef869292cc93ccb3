// A GGUF writer for tests: any metadata and tensors (raw block bytes), with the byte offset of
// every field recorded so corruption tests can aim at them; and a tiny valid llama model
// (byte-level BPE tokenizer, ChatML template, random weights of several ggml types) that the
// importer converts and the engine runs -- no Python needed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ollmlx::test {

class GgufBuilder {
 public:
  // Metadata (value types as gguf.h's ValueType numbers).
  void u32(const std::string& key, uint32_t v);
  void i32(const std::string& key, int32_t v);
  void u64(const std::string& key, uint64_t v);
  void f32(const std::string& key, float v);
  void boolean(const std::string& key, bool v);
  void str(const std::string& key, const std::string& v);
  void strs(const std::string& key, const std::vector<std::string>& v);
  void i32s(const std::string& key, const std::vector<int32_t>& v);
  void f32s(const std::string& key, const std::vector<float>& v);
  // A raw metadata entry: type id and the encoded value bytes.
  void raw(const std::string& key, uint32_t type, const std::string& value_bytes);

  // A tensor: ggml dims (ne[0] = row length), ggml type id, data bytes (must match the size).
  void tensor(const std::string& name, const std::vector<int64_t>& ne, uint32_t type,
              const std::string& data);
  // Removes a metadata entry or tensor; false if there is none of that name.
  bool drop(const std::string& name);
  // The data of a tensor added earlier (nullptr if none), to be changed in place.
  std::string* data_of(const std::string& tensor_name);

  struct Layout {
    size_t kv_start = 0;                     // first metadata entry
    std::vector<size_t> kv;                  // offset of each entry (its key length)
    size_t tensors_start = 0;                // first tensor record
    std::vector<size_t> tensor_records;      // offset of each tensor record (name length)
    size_t data_start = 0;
  };
  // The file bytes. `version` and `alignment` as written in the header / general.alignment
  // (alignment 0: none written, the default 32 used).
  std::string build(uint32_t version = 3, uint32_t alignment = 0, Layout* layout = nullptr) const;

 private:
  struct Kv {
    std::string key;
    uint32_t type;
    std::string value;
  };
  struct T {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    std::string data;
  };
  std::vector<Kv> kv_;
  std::vector<T> tensors_;
};

struct TinyLlama {
  int hidden = 64, ffn = 128, heads = 4, kv_heads = 2, layers = 2;
  bool tied = false;
  bool chat_template = true;
  uint32_t seed = 7;
  std::string name = "Tiny Llama";
  std::string arch = "llama";  // "qwen2" adds q/k/v biases, "qwen3" q/k norms and key_length;
                               // "gemma2"/"gemma3": Gemma's norms and the tiny SentencePiece
                               // vocabulary below (gemma3 with q/k norms); "phi3": the
                               // llama weights of the same seed fused (attn_qkv, ffn_up =
                               // gate | up; needs all_f32 or equal q/k/v and gate/up types)
  bool rope_factors = false;   // phi3: rope_factors_long/short (longrope), original context 256
  bool all_f32 = false;        // every weight F32 (for exact comparisons between conversions)
  bool zero_bias = false;      // qwen2's biases all zero (and no random numbers drawn for them)
  // ggml types of q, k, v, o, gate, up, down for layers 0 and 1 (then alternating), embedding
  // and output; any of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K (random blocks
  // with sane scales; K-quants need rows of a multiple of 256).
  std::vector<uint32_t> layer_types = {3, 8, 1, 2, 6, 30, 7, 0, 1, 0, 1, 8, 8, 2};
  uint32_t embed_type = 8, output_type = 2;
  std::function<void(GgufBuilder&)> edit;  // last changes before the file is built
};
// Tokens of the tiny model's tokenizer: <|endoftext|>, <|im_start|>, <|im_end|>, the 256
// byte-level characters, then a few merges.
std::vector<std::string> tiny_tokens();
std::string tiny_llama_gguf(const TinyLlama& t = {});

// A SentencePiece vocabulary entry as a GGUF stores it (type: 1 normal, 2 unknown, 3 control,
// 4 user-defined, 6 byte).
struct SpmPiece {
  std::string text;
  float score;
  int32_t type;
};
// The tiny Gemma-style vocabulary: <pad> <eos> <bos> <unk> <start_of_turn> <end_of_turn> (ids
// 0-5), the byte tokens <0x00>..<0xFF> (6-261), USER_DEFINED "\n\n" (262) and "  " (263, as
// llama.cpp writes "▁▁"), then pieces scored -1, -2, ...: ▁ h e l o w r d ll he llo hello ▁hello
// ▁w or ld ▁wor ▁world \n (264-282).
std::vector<SpmPiece> tiny_spm_pieces();
// tokenizer.ggml.* of a SentencePiece tokenizer (bos 2, eos 1, unk 3, pad 0, add_bos).
void add_spm_tokenizer(GgufBuilder& g, const std::vector<SpmPiece>& pieces, bool add_space_prefix);

// GPT-2's byte -> unicode character table, UTF-8 encoded.
std::string byte_level_char(uint8_t b);

void write_bytes(const std::filesystem::path& path, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& path);

// A fresh directory under the test temp dir, removed by the caller (or at exit of the process).
std::filesystem::path temp_dir(const std::string& prefix);

}  // namespace ollmlx::test
