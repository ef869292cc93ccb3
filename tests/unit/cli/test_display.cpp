#include <gtest/gtest.h>

#include <cstdio>

#include "cli/display.h"

namespace ollmlx::cli {
namespace {

std::string capture(bool wrap, int width, const std::vector<std::string>& chunks) {
  FILE* f = std::tmpfile();
  {
    ResponseDisplay d(f, wrap, width);
    for (const auto& c : chunks) d.write(c);
  }
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

TEST(Display, NoWrapWritesAsIs) {
  EXPECT_EQ(capture(false, 20, {"Hello", ", world. ", "This is long enough to wrap"}),
            "Hello, world. This is long enough to wrap");
  EXPECT_EQ(capture(true, 0, {"not a terminal: ", "never wrapped at all, whatever the length"}),
            "not a terminal: never wrapped at all, whatever the length");
}

TEST(Display, WrapsWordsAtTheMargin) {
  // Width 20: a line holds 15 columns; the word crossing the margin moves to the next line.
  EXPECT_EQ(capture(true, 20, {"one two three ", "four five"}),
            "one two three f\x1b[1D\x1b[K\nfour five");
  EXPECT_EQ(capture(true, 20, {"line\nnext line here fits"}),
            "line\nnext line here \x1b[K\nfits");
}

TEST(Metrics, Summary) {
  const auto j = nlohmann::ordered_json::parse(
      R"({"done":true,"total_duration":1234567891,"load_duration":20000000,"prompt_eval_count":26,
          "prompt_eval_duration":130000000,"eval_count":259,"eval_duration":4232000000})");
  EXPECT_EQ(metrics_summary(j),
            "total duration:       1.234567891s\n"
            "load duration:        20ms\n"
            "prompt eval count:    26 token(s)\n"
            "prompt eval duration: 130ms\n"
            "prompt eval rate:     200.00 tokens/s\n"
            "eval count:           259 token(s)\n"
            "eval duration:        4.232s\n"
            "eval rate:            61.20 tokens/s\n");
  EXPECT_EQ(metrics_summary(nlohmann::ordered_json::parse(R"({"done":true})")), "");
}

}  // namespace
}  // namespace ollmlx::cli
