// The layout of one forward pass: a flat list of rows (tokens) that belong to several sequences,
// each at its own position. Several decoding sequences (one row each) and prefill chunks (many
// rows) can share one pass; every op works on all rows, attention works per sequence.
#pragma once

#include <cstdint>
#include <vector>

namespace ollmlx {

struct SeqSpan {
  int slot = 0;        // the sequence's KV-cache slot
  int32_t begin = 0;   // first row of this sequence in the flat batch
  int32_t count = 0;   // number of rows (tokens) of this sequence in the batch
  int32_t pos0 = 0;    // position of the first row = tokens already in the cache for this slot
};

struct BatchLayout {
  std::vector<SeqSpan> seqs;       // rows of seqs[i] are [begin, begin+count), disjoint, in order
  std::vector<int32_t> positions;  // [rows] absolute position of each row
  int32_t rows() const { return static_cast<int32_t>(positions.size()); }
};

// Builds `positions` from `seqs` and checks that the spans tile [0, rows) in order.
// Throws Error("batch", ...) on an inconsistent layout.
void finalize_layout(BatchLayout& layout);

}  // namespace ollmlx
