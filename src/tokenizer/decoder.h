// Decoders of tokenizer.json ("decoder"): ByteLevel, Metaspace, Replace, ByteFallback, Fuse,
// Strip, BPEDecoder, WordPiece and Sequence (flattened). Each step maps the list of token
// strings to a new list (HF decode_chain); the result is their concatenation.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_util.h"

namespace ollmlx::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

class DecoderChain {
 public:
  // Parses the "decoder" value (null allowed: tokens are then joined with spaces, as HF does).
  static DecoderChain parse(const jsonu::Json& value, std::string_view where);
  std::string decode(std::vector<std::string> tokens) const;
  bool has_byte_fallback() const { return byte_fallback_; }

 private:
  void add(const jsonu::Json& value, const std::string& where);
  bool present_ = false;
  bool byte_fallback_ = false;
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace ollmlx::tok
