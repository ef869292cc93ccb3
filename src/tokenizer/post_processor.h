// Post-processors of tokenizer.json ("post_processor"): TemplateProcessing, RobertaProcessing,
// BertProcessing, ByteLevel (ids unchanged) and Sequence. They add BOS/EOS-style tokens around
// a single sequence when add_special_tokens is on. As in HF, the chain works on a list of
// segments (each processor may split or wrap them) that is concatenated at the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_util.h"

namespace ollmlx::tok {

class PostProcessorChain {
 public:
  // Parses the "post_processor" value (null allowed). Rejects chains HF could not run.
  static PostProcessorChain parse(const jsonu::Json& value, std::string_view where);
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const;

 private:
  struct Piece {
    bool is_sequence = false;
    int sequence = 0;             // 0 = A, 1 = B
    std::vector<int32_t> ids;     // special token ids
  };
  struct Step {
    enum Kind { kTemplate, kRoberta, kBert } kind = kTemplate;
    std::vector<Piece> single, pair;  // templates
    int32_t cls = 0, sep = 0;         // Roberta/Bert
  };
  using Segments = std::vector<std::vector<int32_t>>;
  void add(const jsonu::Json& value, const std::string& where);
  // Runs the chain on segments; false when HF would fail (a template fed 3+ segments).
  bool run(Segments& segments, bool add_special_tokens) const;
  std::vector<Step> steps_;
};

}  // namespace ollmlx::tok
