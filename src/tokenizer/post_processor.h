// Post-processors of tokenizer.json ("post_processor"): TemplateProcessing, RobertaProcessing,
// BertProcessing, ByteLevel (ids unchanged) and Sequence. They add BOS/EOS-style tokens around
// a single sequence when add_special_tokens is on.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/json_util.h"

namespace ollmlx::tok {

class PostProcessorChain {
 public:
  // Parses the "post_processor" value (null allowed).
  static PostProcessorChain parse(const jsonu::Json& value, std::string_view where);
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const;
  // Ids added in front of / behind a single sequence.
  const std::vector<int32_t>& prefix() const { return prefix_; }
  const std::vector<int32_t>& suffix() const { return suffix_; }

 private:
  void add(const jsonu::Json& value, const std::string& where);
  // Every supported processor wraps the sequence as prefix + ids + suffix; a Sequence of them
  // composes by nesting.
  std::vector<int32_t> prefix_, suffix_;
};

}  // namespace ollmlx::tok
