#include "cli/line_editor.h"

#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "api/utf8.h"
#include "cli/format.h"
#include "cli/progress.h"

namespace ollmlx::cli {
namespace {

constexpr size_t kHistoryLimit = 100;

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
bool word_char(char c) { return c != ' ' && c != '\t' && c != '\n'; }

}  // namespace

void EditBuffer::set(std::string text) {
  text_ = std::move(text);
  cursor_ = text_.size();
}

void EditBuffer::insert(const std::string& s) {
  text_.insert(cursor_, s);
  cursor_ += s.size();
}

void EditBuffer::left() {
  if (cursor_ == 0) return;
  --cursor_;
  while (cursor_ > 0 && continuation(text_[cursor_])) --cursor_;
}

void EditBuffer::right() {
  if (cursor_ >= text_.size()) return;
  ++cursor_;
  while (cursor_ < text_.size() && continuation(text_[cursor_])) ++cursor_;
}

void EditBuffer::backspace() {
  if (cursor_ == 0) return;
  const size_t end = cursor_;
  left();
  text_.erase(cursor_, end - cursor_);
}

void EditBuffer::del() {
  if (cursor_ >= text_.size()) return;
  const size_t start = cursor_;
  right();
  text_.erase(start, cursor_ - start);
  cursor_ = start;
}

void EditBuffer::word_left() {
  while (cursor_ > 0 && !word_char(text_[cursor_ - 1])) --cursor_;
  while (cursor_ > 0 && word_char(text_[cursor_ - 1])) --cursor_;
}

void EditBuffer::word_right() {
  while (cursor_ < text_.size() && !word_char(text_[cursor_])) ++cursor_;
  while (cursor_ < text_.size() && word_char(text_[cursor_])) ++cursor_;
}

void EditBuffer::kill_to_end() { text_.erase(cursor_); }

void EditBuffer::kill_to_start() {
  text_.erase(0, cursor_);
  cursor_ = 0;
}

void EditBuffer::kill_word_before() {
  const size_t end = cursor_;
  word_left();
  text_.erase(cursor_, end - cursor_);
}

LineEditor::LineEditor(int in_fd, int out_fd) : in_(in_fd), out_(out_fd) {}

void LineEditor::set_history_file(const std::string& path) {
  history_file_ = path;
  history_.clear();
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) history_.push_back(line);
  }
  if (history_.size() > kHistoryLimit) {
    history_.erase(history_.begin(), history_.end() - static_cast<std::ptrdiff_t>(kHistoryLimit));
  }
}

void LineEditor::add_history(const std::string& line) {
  if (!history_on_ || line.empty() || line.find('\n') != std::string::npos) return;
  if (!history_.empty() && history_.back() == line) return;
  history_.push_back(line);
  if (history_.size() > kHistoryLimit) history_.erase(history_.begin());
  if (history_file_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(history_file_).parent_path(), ec);
  // Rewrite the file so it keeps the last kHistoryLimit entries.
  const std::string tmp = history_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& h : history_) out << h << "\n";
    if (!out) return;
  }
  std::filesystem::rename(tmp, history_file_, ec);
}

int LineEditor::read_byte() {
  unsigned char c;
  for (;;) {
    const ssize_t n = ::read(in_, &c, 1);
    if (n == 1) return c;
    if (n < 0 && errno == EINTR) continue;
    return -1;
  }
}

void LineEditor::refresh(const EditBuffer& b) {
  int cols = terminal_width(out_);
  if (cols <= 0) cols = 80;
  const std::string& p = prompt.use_alt ? prompt.alt_prompt : prompt.prompt;
  const std::string& ph = prompt.use_alt ? prompt.alt_placeholder : prompt.placeholder;
  std::string s = "\r";
  if (cursor_row_ > 0) s += fmt::format("\033[{}A", cursor_row_);
  s += "\033[J" + p;
  int shown = display_width(p);
  if (b.text().empty() && !ph.empty()) {
    s += "\033[38;5;245m" + ph + "\033[0m";
    shown += display_width(ph);
  } else {
    s += b.text();
    shown += display_width(b.text());
  }
  if (shown > 0 && shown % cols == 0) s += "\r\n";  // leave the pending-wrap state
  const int end_row = shown / cols;
  const int target = display_width(p) + display_width(std::string_view(b.text()).substr(0, b.cursor()));
  const int target_row = target / cols, target_col = target % cols;
  if (end_row > target_row) s += fmt::format("\033[{}A", end_row - target_row);
  s += "\r";
  if (target_col > 0) s += fmt::format("\033[{}C", target_col);
  rows_ = end_row + 1;
  cursor_row_ = target_row;
  (void)!::write(out_, s.data(), s.size());
}

ReadStatus LineEditor::read_line(std::string& line) {
  termios saved{};
  const bool raw = tcgetattr(in_, &saved) == 0;
  if (raw) {
    termios t = saved;
    t.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(in_, TCSADRAIN, &t);  // keep what was typed ahead
  }
  struct Restore {
    int fd;
    bool raw;
    termios saved;
    ~Restore() {
      if (raw) tcsetattr(fd, TCSADRAIN, &saved);
    }
  } restore{in_, raw, saved};

  EditBuffer b;
  rows_ = 1;
  cursor_row_ = 0;
  size_t hist_pos = history_.size();
  std::string draft;  // the line being typed when browsing history
  const auto finish = [&](const char* tail) {
    // Final render without the placeholder, the cursor at the end, then the tail.
    LinePrompt saved_prompt = prompt;
    prompt.placeholder.clear();
    prompt.alt_placeholder.clear();
    b.end();
    refresh(b);
    prompt = saved_prompt;
    (void)!::write(out_, tail, std::char_traits<char>::length(tail));
  };
  const auto history_step = [&](bool up) {
    if (up && hist_pos > 0) {
      if (hist_pos == history_.size()) draft = b.text();
      b.set(history_[--hist_pos]);
    } else if (!up && hist_pos < history_.size()) {
      ++hist_pos;
      b.set(hist_pos == history_.size() ? draft : history_[hist_pos]);
    }
  };
  refresh(b);
  for (;;) {
    const int c = read_byte();
    if (c < 0) {
      line = b.text();
      return ReadStatus::Eof;
    }
    switch (c) {
      case '\r':
      case '\n':
        finish("\r\n");
        line = b.text();
        if (!pasting_) add_history(line);
        return ReadStatus::Line;
      case 3:  // Ctrl+C
        finish("\r\n");
        line = b.text();
        pasting_ = false;
        return ReadStatus::Interrupt;
      case 4:  // Ctrl+D
        if (b.text().empty()) {
          finish("");
          line.clear();
          return ReadStatus::Eof;
        }
        b.del();
        break;
      case 127:
      case 8:
        b.backspace();
        break;
      case 1: b.home(); break;
      case 5: b.end(); break;
      case 2: b.left(); break;
      case 6: b.right(); break;
      case 11: b.kill_to_end(); break;
      case 21: b.kill_to_start(); break;
      case 23: b.kill_word_before(); break;
      case 12:  // Ctrl+L
        (void)!::write(out_, "\033[H\033[2J", 7);
        cursor_row_ = 0;
        break;
      case 16:  // Ctrl+P
        history_step(true);
        break;
      case 14:  // Ctrl+N
        history_step(false);
        break;
      case 27: {  // escape sequences
        const int c1 = read_byte();
        if (c1 == 'b') {
          b.word_left();
        } else if (c1 == 'f') {
          b.word_right();
        } else if (c1 == '[' || c1 == 'O') {
          std::string params;
          int fin = read_byte();
          while (fin >= 0 && (fin < 0x40 || fin > 0x7e)) {
            params += static_cast<char>(fin);
            fin = read_byte();
          }
          if (fin == 'A' || fin == 'B') {
            history_step(fin == 'A');
          } else if (fin == 'C') {
            b.right();
          } else if (fin == 'D') {
            b.left();
          } else if (fin == 'H' || (fin == '~' && (params == "1" || params == "7"))) {
            b.home();
          } else if (fin == 'F' || (fin == '~' && (params == "4" || params == "8"))) {
            b.end();
          } else if (fin == '~' && params == "3") {
            b.del();
          } else if (fin == '~' && params == "200") {
            pasting_ = true;
          } else if (fin == '~' && params == "201") {
            pasting_ = false;
          }
        }
        break;
      }
      default:
        if (c >= 0x20) {
          std::string s(1, static_cast<char>(c));
          int more = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
          while (more-- > 0) {
            const int n = read_byte();
            if (n < 0) break;
            s += static_cast<char>(n);
          }
          if (s == "\t") s = "    ";
          b.insert(s);
        } else if (c == '\t') {
          b.insert("    ");
        }
        break;
    }
    refresh(b);
  }
}

}  // namespace ollmlx::cli
