// How `ollmlx run` prints an answer and its statistics, as Ollama's CLI does: text streamed as it
// comes, words wrapped at the terminal's width (when stdout is a terminal and word wrap is on;
// a word that would cross the right margin is moved to the next line), and the --verbose block
// on stderr ("total duration:       1.234s", "eval rate:            61.20 tokens/s", ...).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

namespace ollmlx::cli {

class ResponseDisplay {
 public:
  // `term_width` 0 = not a terminal (no wrapping).
  ResponseDisplay(FILE* out, bool word_wrap, int term_width);
  void write(const std::string& content);
  // Starts a fresh line state (after "...done thinking.").
  void reset();
  // The text written so far, with the escape sequences of the wrapping left out.
  const std::string& text() const { return text_; }

 private:
  FILE* out_;
  bool wrap_;
  int width_;
  int line_length_ = 0;
  std::string word_;
  std::string text_;
};

// The statistics block of a final chunk (durations in nanoseconds), lines for the non-zero
// metrics only, in Ollama's order and wording.
std::string metrics_summary(const nlohmann::ordered_json& final_chunk);

}  // namespace ollmlx::cli
