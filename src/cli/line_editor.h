// A small line editor for the `ollmlx run` REPL, in the style of Ollama's readline: a ">>> "
// prompt with a grey placeholder ("Send a message (/? for help)"), "... " while a multi-line
// message is open, Emacs keys (Ctrl+A/E/B/F/K/U/W/L, Alt+B/F, arrows, Home/End/Delete), history
// (up/down, Ctrl+P/N) saved to a file, bracketed paste, Ctrl+C (interrupt) and Ctrl+D (end of
// input on an empty line). The terminal is in raw mode only while a line is read.
#pragma once

#include <string>
#include <vector>

namespace ollmlx::cli {

struct LinePrompt {
  std::string prompt = ">>> ";
  std::string alt_prompt = "... ";
  std::string placeholder = "Send a message (/? for help)";
  std::string alt_placeholder = "Press Enter to send";
  bool use_alt = false;
};

enum class ReadStatus { Line, Eof, Interrupt };

// The editing state, separate from the terminal so it can be unit tested.
class EditBuffer {
 public:
  const std::string& text() const { return text_; }
  size_t cursor() const { return cursor_; }  // byte offset
  void set(std::string text);                // cursor at the end
  void insert(const std::string& s);
  void backspace();
  void del();  // the character under the cursor
  void left();
  void right();
  void home() { cursor_ = 0; }
  void end() { cursor_ = text_.size(); }
  void word_left();
  void word_right();
  void kill_to_end();
  void kill_to_start();
  void kill_word_before();

 private:
  std::string text_;
  size_t cursor_ = 0;
};

class LineEditor {
 public:
  LineEditor(int in_fd = 0, int out_fd = 1);

  // Reads one line in raw mode. Line: `line` holds it (the Enter is echoed); Interrupt: Ctrl+C,
  // `line` holds what had been typed; Eof: Ctrl+D on an empty line.
  ReadStatus read_line(std::string& line);
  // True while the last line returned ended inside a bracketed paste.
  bool pasting() const { return pasting_; }

  LinePrompt prompt;

  void set_history_file(const std::string& path);  // loads it; new entries are appended
  void history_enable(bool on) { history_on_ = on; }
  const std::vector<std::string>& history() const { return history_; }

 private:
  void refresh(const EditBuffer& b);
  void add_history(const std::string& line);
  int read_byte();

  int in_, out_;
  bool pasting_ = false;
  bool history_on_ = true;
  std::string history_file_;
  std::vector<std::string> history_;
  // Rendering state of the line being edited.
  int rows_ = 1;        // rows the last render used
  int cursor_row_ = 0;  // row of the cursor in the last render (0 = first)
};

}  // namespace ollmlx::cli
