#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/line_editor.h"

namespace ollmlx::cli {
namespace {

TEST(EditBuffer, InsertMoveDelete) {
  EditBuffer b;
  b.insert("hello");
  b.insert(" wörld");  // "ö" is two bytes: the text is 12 bytes
  EXPECT_EQ(b.text(), "hello wörld");
  b.left();
  b.left();
  b.left();
  EXPECT_EQ(b.cursor(), 9u);  // before "r"
  b.left();
  EXPECT_EQ(b.cursor(), 7u);  // before "ö": one step over both bytes
  b.right();
  EXPECT_EQ(b.cursor(), 9u);
  b.left();
  b.del();
  EXPECT_EQ(b.text(), "hello wrld");
  EXPECT_EQ(b.cursor(), 7u);
  b.backspace();
  EXPECT_EQ(b.text(), "hello rld");
  b.home();
  b.del();
  EXPECT_EQ(b.text(), "ello rld");
  b.end();
  b.kill_word_before();
  EXPECT_EQ(b.text(), "ello ");
  b.home();
  b.word_right();
  EXPECT_EQ(b.cursor(), 4u);
  b.kill_to_end();
  EXPECT_EQ(b.text(), "ello");
  b.left();
  b.kill_to_start();
  EXPECT_EQ(b.text(), "o");
  EXPECT_EQ(b.cursor(), 0u);
}

// The editor over a pipe (no terminal): keys in, rendering out.
struct Piped {
  int in[2], out[2];
  Piped() {
    EXPECT_EQ(pipe(in), 0);
    EXPECT_EQ(pipe(out), 0);
  }
  ~Piped() {
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
  }
  void type(const std::string& s) { ASSERT_EQ(write(in[1], s.data(), s.size()), static_cast<ssize_t>(s.size())); }
};

TEST(LineEditor, KeysHistoryInterruptEof) {
  Piped p;
  LineEditor ed(p.in[0], p.out[1]);
  const auto dir = std::filesystem::temp_directory_path() / ("ollmlx_hist_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  ed.set_history_file((dir / "history").string());
  std::string line;
  p.type("helo\x1b[Dl\r");  // left arrow, insert
  EXPECT_EQ(ed.read_line(line), ReadStatus::Line);
  EXPECT_EQ(line, "hello");
  p.type("x\x1b[A\r");  // up: the previous entry replaces the draft
  EXPECT_EQ(ed.read_line(line), ReadStatus::Line);
  EXPECT_EQ(line, "hello");
  p.type("abc\x03");
  EXPECT_EQ(ed.read_line(line), ReadStatus::Interrupt);
  EXPECT_EQ(line, "abc");
  p.type("\x1b[200~one\rtwo\x1b[201~\r");
  EXPECT_EQ(ed.read_line(line), ReadStatus::Line);
  EXPECT_EQ(line, "one");
  EXPECT_TRUE(ed.pasting());
  EXPECT_EQ(ed.read_line(line), ReadStatus::Line);
  EXPECT_EQ(line, "two");
  EXPECT_FALSE(ed.pasting());
  p.type("\x04");
  EXPECT_EQ(ed.read_line(line), ReadStatus::Eof);
  std::ifstream h(dir / "history");
  std::string saved((std::istreambuf_iterator<char>(h)), std::istreambuf_iterator<char>());
  EXPECT_EQ(saved, "hello\ntwo\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ollmlx::cli
