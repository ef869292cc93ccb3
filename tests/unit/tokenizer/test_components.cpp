// Component behaviour through small tokenizer.json documents: BPE merging rules, unk handling,
// byte fallback, added-token flags, Metaspace prepend schemes, normalizers, post-processors and
// decoders. Expected ids come from running the same documents through `tokenizers`.
#include <gtest/gtest.h>

#include <thread>

#include "tok_test_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"

namespace ollmlx::tok {
namespace {

using nlohmann::json;
using testing::added;
using testing::make;
using testing::mini_bpe;
using Ids = std::vector<int32_t>;

const std::vector<std::string> kUnrelated = {"u",  "n",  "r",  "e",  "l",    "a",   "t",   "d",
                                             "re", "at", "ed", "un", "ated", "rel", "related",
                                             "unrelated"};
const std::vector<std::string> kUnrelatedMerges = {"r e",    "a t",   "e d",      "u n",
                                                   "at ed",  "re l",  "rel ated", "un related"};

TEST(Bpe, MergesByRank) {
  const auto tok = make(mini_bpe(kUnrelated, kUnrelatedMerges));
  EXPECT_EQ(tok->encode("unrelated"), (Ids{15}));
  EXPECT_EQ(tok->encode("unrel"), (Ids{11, 13}));
  EXPECT_EQ(tok->encode("dear"), (Ids{7, 3, 5, 2}));
  EXPECT_EQ(tok->vocab_size(), 16);
  EXPECT_EQ(tok->id_to_token(13), "rel");
  EXPECT_EQ(tok->token_to_id("related"), 14);
  EXPECT_FALSE(tok->token_to_id("zzz").has_value());
}

TEST(Bpe, EqualRanksMergeLeftmostFirst) {
  const auto tok = make(mini_bpe({"a", "aa"}, {"a a"}));
  EXPECT_EQ(tok->encode("aaa"), (Ids{1, 0}));
  EXPECT_EQ(tok->encode("aaaa"), (Ids{1, 1}));
}

TEST(Bpe, UnknownCharacters) {
  const std::vector<std::string> v = {"<unk>", "a", "b"};
  const auto plain = make(mini_bpe(v, {}, {}, {{"unk_token", "<unk>"}}));
  EXPECT_EQ(plain->encode("accb"), (Ids{1, 0, 0, 2}));
  const auto fused = make(mini_bpe(v, {}, {}, {{"unk_token", "<unk>"}, {"fuse_unk", true}}));
  EXPECT_EQ(fused->encode("accb"), (Ids{1, 0, 2}));
  const auto none = make(mini_bpe(v, {}));  // no unk token: unknown characters vanish
  EXPECT_EQ(none->encode("accb"), (Ids{1, 2}));
}

TEST(Bpe, ByteFallback) {
  const auto tok = make(mini_bpe({"<unk>", "<0x61>", "<0xC3>", "<0xA9>", "b"}, {},
                                 {}, {{"unk_token", "<unk>"}, {"byte_fallback", true}}));
  EXPECT_EQ(tok->encode("b\xC3\xA9" "a"), (Ids{4, 2, 3, 1}));
  EXPECT_EQ(tok->encode("c"), (Ids{0}));  // <0x63> missing: unk
}

TEST(Bpe, IgnoreMergesTakesWholeWords) {
  const auto with = make(mini_bpe({"a", "b", "ab", "abb", "bb"}, {"a b", "b b"}, {},
                                  {{"ignore_merges", true}}));
  EXPECT_EQ(with->encode("abb"), (Ids{3}));
  const auto without = make(mini_bpe({"a", "b", "ab", "abb", "bb"}, {"a b", "b b"}));
  EXPECT_EQ(without->encode("abb"), (Ids{2, 1}));
}

TEST(Bpe, ContinuingSubwordPrefixAndSuffix) {
  const auto tok = make(mini_bpe({"a", "##b", "##c", "ab", "abc"}, {"a ##b", "ab ##c"}, {},
                                 {{"continuing_subword_prefix", "##"}}));
  EXPECT_EQ(tok->encode("ab"), (Ids{3}));
  EXPECT_EQ(tok->encode("abc"), (Ids{4}));
  const auto sfx = make(mini_bpe({"a", "b</w>", "ab</w>"}, {"a b</w>"}, {},
                                 {{"end_of_word_suffix", "</w>"}}));
  EXPECT_EQ(sfx->encode("ab"), (Ids{2}));
}

TEST(AddedTokens, FlagsMatchHuggingFace) {
  std::vector<std::string> chars;
  for (char c = 'a'; c <= 'z'; ++c) chars.emplace_back(1, c);
  chars.insert(chars.end(), {" ", "[CLS]", "[SEP]", "my", "name", "ony", "[UNK]"});
  const auto tok = make(mini_bpe(
      chars, {},
      {{"normalizer", {{"type", "Lowercase"}}},
       {"added_tokens", json::array({added(27, "[CLS]", true), added(28, "[SEP]", true),
                                     added(29, "my", false, true, true, true),
                                     added(30, "name", false, true),
                                     added(31, "ony", false, true, false, false, true)})}}));
  EXPECT_EQ(tok->encode("[CLS] My name is Anthony [SEP]"),
            (Ids{27, 29, 30, 26, 8, 18, 26, 0, 13, 19, 7, 14, 13, 24, 26, 28}));
  EXPECT_EQ(tok->encode("ony tony ony"), (Ids{31, 26, 19, 14, 13, 24, 26, 31}));
  EXPECT_EQ(tok->encode("Mymy  my  x"), (Ids{29, 29, 29, 23}));
  EXPECT_EQ(tok->encode("NAME"), (Ids{30}));
  // parse_special=false: special-token text is plain text ('[' and ']' are not in the vocab).
  EXPECT_EQ(tok->encode("[CLS] My name", true, false), (Ids{2, 11, 18, 29, 30}));
  EXPECT_TRUE(tok->is_special(27));
  EXPECT_FALSE(tok->is_special(29));
  EXPECT_EQ(tok->decode({27, 29, 28}, true), "my");
}

TEST(AddedTokens, LongestMatchWinsAndIdsAreAssigned) {
  const auto tok = make(mini_bpe(
      {"a", "b"}, {},
      {{"added_tokens", json::array({added(2, "<x>", true), added(3, "<x><y>", true),
                                     added(99, "new", false)})}}));
  EXPECT_EQ(tok->encode("a<x><y>b<x>"), (Ids{0, 3, 1, 2}));
  // "new" is not in the model vocab: HF gives it the next free id (4), not the file's 99.
  EXPECT_EQ(tok->token_to_id("new"), 4);
  EXPECT_EQ(tok->vocab_size(), 5);
  ASSERT_EQ(tok->warnings().size(), 1u);
}

json metaspace(const char* scheme) {
  return {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", scheme},
          {"split", true}};
}

TEST(PreTokenizers, MetaspacePrependSchemes) {
  const std::vector<std::string> v = {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a",
                                      "\xE2\x96\x81" "b", "<s>"};
  const std::vector<std::string> m = {"\xE2\x96\x81 a", "\xE2\x96\x81 b"};
  const json tokens = json::array({added(5, "<s>", true)});
  const auto always = make(mini_bpe(v, m, {{"pre_tokenizer", metaspace("always")},
                                           {"added_tokens", tokens}}));
  const auto first = make(mini_bpe(v, m, {{"pre_tokenizer", metaspace("first")},
                                          {"added_tokens", tokens}}));
  const auto never = make(mini_bpe(v, m, {{"pre_tokenizer", metaspace("never")},
                                          {"added_tokens", tokens}}));
  EXPECT_EQ(always->encode("a b"), (Ids{3, 4}));
  EXPECT_EQ(always->encode("<s>a b"), (Ids{5, 3, 4}));
  EXPECT_EQ(first->encode("a b"), (Ids{3, 4}));
  EXPECT_EQ(first->encode("<s>a b"), (Ids{5, 1, 4}));  // not at the start of the text
  EXPECT_EQ(never->encode("a b"), (Ids{1, 4}));
  EXPECT_EQ(never->encode(" a"), (Ids{3}));
  EXPECT_EQ(always->encode("ab"), (Ids{3, 2}));
}

TEST(Normalizers, Chain) {
  auto chain = [](const json& j) { return NormalizerChain::parse(j, "test"); };
  EXPECT_EQ(chain({{"type", "NFKC"}}).normalize_text("\xEF\xAC\x81"), "fi");
  EXPECT_EQ(chain({{"type", "Sequence"},
                   {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", "_"}},
                                                {{"type", "Replace"},
                                                 {"pattern", {{"String", " "}}},
                                                 {"content", "_"}}})}})
                .normalize_text("a b"),
            "_a_b");
  EXPECT_EQ(chain({{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}})
                .normalize_text("a \t\n b"),
            "a b");
  EXPECT_EQ(chain({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}})
                .normalize_text("  x  "),
            "x  ");
  EXPECT_EQ(chain({{"type", "Sequence"},
                   {"normalizers", json::array({{{"type", "NFD"}}, {{"type", "StripAccents"}},
                                                {{"type", "Lowercase"}}})}})
                .normalize_text("\xC3\x89t\xC3\xA9"),
            "ete");
  EXPECT_EQ(chain({{"type", "BertNormalizer"}, {"clean_text", true},
                   {"handle_chinese_chars", true}, {"strip_accents", nullptr},
                   {"lowercase", true}})
                .normalize_text("A\t\xE4\xB8\xAD\x01"),
            "a  \xE4\xB8\xAD ");
  EXPECT_EQ(chain({{"type", "Prepend"}, {"prepend", "_"}}).normalize_text(""), "");
  EXPECT_TRUE(chain(nullptr).empty());
}

TEST(PostProcessors, TemplateAndRoberta) {
  const std::vector<std::string> v = {"<s>", "</s>", "a"};
  const json tpl = {{"type", "TemplateProcessing"},
                    {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                            {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                            {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}})},
                    {"pair", json::array()},
                    {"special_tokens",
                     {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}},
                      {"</s>", {{"id", "</s>"}, {"ids", {1}}, {"tokens", {"</s>"}}}}}}};
  const auto t = make(mini_bpe(v, {}, {{"post_processor", tpl}}));
  EXPECT_EQ(t->encode("aa"), (Ids{0, 2, 2, 1}));
  EXPECT_EQ(t->encode("aa", false), (Ids{2, 2}));
  EXPECT_EQ(t->encode(""), (Ids{0, 1}));
  const json roberta = {{"type", "RobertaProcessing"}, {"sep", {"</s>", 1}}, {"cls", {"<s>", 0}},
                        {"trim_offsets", true}, {"add_prefix_space", false}};
  EXPECT_EQ(make(mini_bpe(v, {}, {{"post_processor", roberta}}))->encode("a"), (Ids{0, 2, 1}));
  // HF composes a template and Roberta segment-wise: <s> [<s>] </s> </s> [a] </s> </s> [</s>] </s>
  const json seq = {{"type", "Sequence"}, {"processors", json::array({tpl, roberta})}};
  EXPECT_EQ(make(mini_bpe(v, {}, {{"post_processor", seq}}))->encode("a"),
            (Ids{0, 0, 1, 1, 2, 1, 1, 1, 1}));
}

TEST(Decoders, ByteFallbackStripAndFriends) {
  const std::vector<std::string> v = {"\xE2\x96\x81" "Hey", "\xE2\x96\x81" "friend", "<0xE5>",
                                      "<0x8F>", "<0xAB>", "<0x61>", "!", "<s>"};
  const json dec = {{"type", "Sequence"},
                    {"decoders",
                     json::array({{{"type", "Replace"},
                                   {"pattern", {{"String", "\xE2\x96\x81"}}},
                                   {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}},
                                  {{"type", "Strip"}, {"content", " "}, {"start", 1},
                                   {"stop", 0}}})}};
  const auto t = make(mini_bpe(v, {}, {{"decoder", dec},
                                       {"added_tokens", json::array({added(7, "<s>", true)})}}));
  EXPECT_EQ(t->decode({0, 1, 6}), "Hey friend!");
  EXPECT_EQ(t->decode({2, 3, 4, 5}), "\xE5\x8F\xAB" "a");                   // 叫a
  EXPECT_EQ(t->decode({2, 3, 6}), "\xEF\xBF\xBD\xEF\xBF\xBD!");             // one U+FFFD per byte
  EXPECT_EQ(t->decode({7, 0}, false), "<s> Hey");
  EXPECT_EQ(t->decode({7, 0}, true), "Hey");
  EXPECT_EQ(t->decode({-1, 1000, 6}), "!");                                  // unknown ids skipped

  const json metaspace_dec = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"},
                              {"prepend_scheme", "always"}, {"split", true}};
  EXPECT_EQ(make(mini_bpe(v, {}, {{"decoder", metaspace_dec}}))->decode({0, 1}), "Hey friend");
  // No decoder: pieces joined by spaces.
  EXPECT_EQ(make(mini_bpe(v, {}))->decode({5, 6}), "<0x61> !");
}

TEST(Decoders, ByteLevelIsLossy) {
  const json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                   {"use_regex", false}};
  // "Ġ" is a space, "Ã" + "©" are the bytes C3 A9 (é); "Ã" alone is an incomplete sequence.
  const auto t = make(mini_bpe({"\xC4\xA0" "a", "\xC3\x83", "\xC2\xA9", "<x y>"}, {},
                               {{"decoder", bl}, {"pre_tokenizer", bl}}));
  EXPECT_EQ(t->decode({0, 1, 2}), " a\xC3\xA9");
  EXPECT_EQ(t->decode({1}), "\xEF\xBF\xBD");
  EXPECT_EQ(t->decode({3}), "<x y>");  // a character outside the alphabet: kept as is
}

TEST(Tokenizer, ConcurrentEncodeAndDecode) {
  // Byte-level vocab (all 256 characters plus a few merges) with the GPT-2 regex: shared
  // compiled regex, per-thread match data and merge buffers.
  std::vector<std::string> v;
  for (int b = 0; b < 256; ++b) v.emplace_back(byte_level::char_of(static_cast<uint8_t>(b)));
  v.insert(v.end(), {"\xC4\xA0t", "he", "\xC4\xA0the"});
  const json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                   {"use_regex", true}};
  const auto tok = make(mini_bpe(v, {"\xC4\xA0 t", "h e", "\xC4\xA0t he"},
                                 {{"pre_tokenizer", bl}, {"decoder", bl}}));
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the cat, " + std::to_string(i) + " \xE4\xB8\xAD\n";
  const Ids want = tok->encode(text);
  ASSERT_EQ(tok->decode(want), text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) ok[t] += tok->encode(text) == want && tok->decode(want) == text;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, (std::vector<int>{20, 20, 20, 20}));
}

}  // namespace
}  // namespace ollmlx::tok
