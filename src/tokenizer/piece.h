// The unit the encode pipeline passes between stages: a piece of (normalized) text, as HF's
// NormalizedString split. Instead of HF's per-byte alignment table we keep the one alignment fact
// any component reads: whether the piece starts at original offset 0 (Metaspace's
// prepend_scheme "first"), plus how many leading bytes map to that offset so that sub-pieces
// can answer the same question.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ollmlx::tok {

struct Piece {
  std::string text;
  bool at_origin = false;      // offsets_original().0 == 0 in HF terms
  uint32_t zero_prefix = 0;    // leading bytes of `text` aligned to original offset 0

  // The sub-piece [a, b) (HF NormalizedString::slice).
  Piece slice(size_t a, size_t b) const {
    Piece p;
    p.text.assign(text, a, b - a);
    p.at_origin = at_origin && a < zero_prefix;
    p.zero_prefix = p.at_origin ? static_cast<uint32_t>(std::min<size_t>(b, zero_prefix) - a) : 0;
    return p;
  }
};

// Builds a transformed text while tracking which output bytes inherit alignment to original
// offset 0: append segments in order, flagging each as zero-aligned or not.
class ZeroTracker {
 public:
  void add(size_t bytes, bool zero) {
    if (open_ && zero) {
      count_ += bytes;
    } else if (bytes > 0) {
      open_ = false;
    }
  }
  uint32_t count() const { return static_cast<uint32_t>(count_); }

 private:
  size_t count_ = 0;
  bool open_ = true;
};

}  // namespace ollmlx::tok
