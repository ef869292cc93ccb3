// Streaming text output for generation.
//
// StreamDecoder turns token ids into text as they are generated: push(id) returns only text
// that is final (never a broken UTF-8 sequence, never a partial byte-fallback run), flush()
// returns the rest. Over a whole generation the pieces concatenate to decode(all ids) - the
// SentencePiece leading-space rule included - because each step decodes a small window that
// starts with already-emitted context tokens and emits only what follows the context's own
// decoding (the approach of HF's DecodeStream and mlx-lm's detokenizers). Once the window no
// longer starts at the first token, a fixed plain token (e.g. "a") is decoded in front of it so
// that start-of-text rules (SentencePiece's stripped leading space, Metaspace's first token) do
// not apply to it. Text is held back
// while it ends in U+FFFD (an incomplete UTF-8 sequence) or, for byte-fallback decoders, while
// the last token decode() keeps is a <0xHH> byte token (a later byte can turn the whole run
// into U+FFFDs).
//
// StopMatcher holds back text that could be the beginning of a stop string until it is decided:
//   StreamDecoder dec(*tok);  StopMatcher stop({"</answer>", "\n\nUser:"});
//   for each generated id: { out << stop.push(dec.push(id)); if (stop.stopped()) break; }
//   if (!stop.stopped()) out << stop.push(dec.flush()) << stop.flush();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ollmlx::tok {

class StreamDecoder {
 public:
  // `tok` must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special_tokens = false);
  // Adds one generated id; returns the text that became final ("" if none yet).
  std::string push(int32_t id);
  // End of generation: the text still held back (may end in U+FFFD for incomplete bytes).
  std::string flush();
  // Forget everything (a new generation).
  void reset();

 private:
  std::string decode_window() const;
  const Tokenizer& tok_;
  bool skip_special_;
  bool byte_runs_;             // the decoder has ByteFallback
  int32_t sentinel_ = -1;      // plain token decoded before a mid-sequence window, or -1
  std::string sentinel_text_;  // its text
  bool mid_sequence_ = false;  // tokens were dropped in front of the window
  bool in_byte_run_ = false;   // the last token decode() keeps is a <0xHH> byte token
  std::vector<int32_t> ids_;   // window: context tokens (already emitted), then pending ones
  size_t context_ = 0;         // number of context tokens at the front of ids_
  std::string prefix_;         // decode of the context tokens alone
};

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Feeds new text; returns what is safe to emit. Once a stop string completes, stopped() is
  // true, the returned text ends right before it, and later calls return "".
  std::string push(std::string_view text);
  // End of generation without a stop: releases the held-back text.
  std::string flush();
  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop string that fired

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace ollmlx::tok
