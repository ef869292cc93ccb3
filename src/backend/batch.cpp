#include "backend/batch.h"

#include "util/error.h"

namespace ollmlx {

void finalize_layout(BatchLayout& layout) {
  layout.positions.clear();
  int32_t next = 0;
  for (const SeqSpan& s : layout.seqs) {
    if (s.begin != next || s.count <= 0 || s.pos0 < 0)
      throw_error("batch", "sequence in slot {} has rows [{}, +{}) at position {}; expected rows from {}",
                  s.slot, s.begin, s.count, s.pos0, next);
    for (int32_t i = 0; i < s.count; ++i) layout.positions.push_back(s.pos0 + i);
    next += s.count;
  }
}

}  // namespace ollmlx
