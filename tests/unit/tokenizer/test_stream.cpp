// StreamDecoder (final text only, concatenation == decode) and StopMatcher (stop strings,
// held-back prefixes).
#include <gtest/gtest.h>

#include "tok_test_util.h"
#include "tokenizer/stream_decoder.h"

namespace ollmlx::tok {
namespace {

using nlohmann::json;
using testing::added;
using testing::make;
using testing::mini_bpe;

std::vector<std::string> pushes(StreamDecoder& dec, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(dec.push(id));
  out.push_back(dec.flush());
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += p;
  return s;
}

TEST(StreamDecoder, ByteLevelHoldsIncompleteCharacters) {
  const json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                   {"use_regex", false}};
  // 0 "a", 1 "Ġb", 2..4 the three bytes of "中" (E4 B8 AD) in byte-level form.
  const auto tok = make(mini_bpe({"a", "\xC4\xA0" "b", "\xC3\xA4", "\xC2\xB8", "\xC5\x83"}, {},
                                 {{"decoder", bl}}));
  StreamDecoder dec(*tok);
  const auto out = pushes(dec, {0, 2, 3, 4, 1});
  EXPECT_EQ(out, (std::vector<std::string>{"a", "", "", "\xE4\xB8\xAD", " b", ""}));
  StreamDecoder dec2(*tok);
  EXPECT_EQ(join(pushes(dec2, {2, 3})), tok->decode({2, 3}));  // flush gives the U+FFFD
}

TEST(StreamDecoder, SentencePieceLeadingSpace) {
  const json dec_json = {
      {"type", "Sequence"},
      {"decoders",
       json::array({{{"type", "Replace"},
                     {"pattern", {{"String", "\xE2\x96\x81"}}},
                     {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  const std::vector<std::string> v = {"\xE2\x96\x81" "Hello", "\xE2\x96\x81" "world",
                                      "\xE2\x96\x81", "<0xE5>", "<0x8F>", "<0xAB>", "<s>",
                                      "<0x41>"};
  const auto tok = make(mini_bpe(v, {}, {{"decoder", dec_json},
                                         {"added_tokens", json::array({added(6, "<s>", true)})}}));
  StreamDecoder dec(*tok);
  EXPECT_EQ(pushes(dec, {0, 1}), (std::vector<std::string>{"Hello", " world", ""}));
  // Every sequence: pieces concatenate to decode(all), with and without special tokens.
  const std::vector<std::vector<int32_t>> cases = {
      {2, 2, 1}, {6, 0, 6, 1}, {3, 4, 5, 1}, {3, 7, 1}, {7, 3, 1}, {2}, {6, 2, 1}, {0, 3},
      {7, 6, 3, 1}, {7, 6, 3}, {0, 7, 6, -1, 3, 1}};
  for (const auto& ids : cases) {
    for (bool skip : {false, true}) {
      StreamDecoder d(*tok, skip);
      EXPECT_EQ(join(pushes(d, ids)), tok->decode(ids, skip)) << "skip=" << skip;
    }
  }
  // A byte run is held until it ends: <0x41> alone would be "A", but followed by an invalid
  // byte the run becomes two U+FFFD.
  StreamDecoder d(*tok);
  EXPECT_EQ(d.push(7), "");
  EXPECT_EQ(d.push(3), "");
  EXPECT_EQ(d.push(1), "\xEF\xBF\xBD\xEF\xBF\xBD world");
}

TEST(StopMatcher, HoldsPossibleStopPrefixes) {
  StopMatcher m({"</end>", "STOP"});
  EXPECT_EQ(m.push("Hello </"), "Hello ");
  EXPECT_EQ(m.push("en"), "");
  EXPECT_EQ(m.push("x and S"), "</enx and ");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("TOP tail"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "STOP");
  EXPECT_EQ(m.push("more"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, EarliestStopWinsAndFlushReleases) {
  StopMatcher a({"bc", "abcd"});
  EXPECT_EQ(a.push("xabcd"), "x");  // both complete in this chunk: the earlier start wins
  EXPECT_EQ(a.matched(), "abcd");
  StopMatcher a2({"bc", "abcd"});
  EXPECT_EQ(a2.push("xab"), "x");
  EXPECT_EQ(a2.push("c"), "a");  // "bc" completes first
  EXPECT_EQ(a2.matched(), "bc");
  StopMatcher b({"<|im_end|>"});
  EXPECT_EQ(b.push("answer <|im"), "answer ");
  EXPECT_EQ(b.flush(), "<|im");
  StopMatcher none({"", "zz"});
  EXPECT_EQ(none.push("abc"), "abc");
  EXPECT_EQ(none.push("z"), "");
  EXPECT_EQ(none.push("y"), "zy");
}

}  // namespace
}  // namespace ollmlx::tok
