// Untrusted tokenizer.json: every malformed or unsupported document is rejected with an
// ollmlx::Error that says what is wrong (never a crash), and odd inputs to encode/decode are
// handled.
#include <gtest/gtest.h>

#include "tok_test_util.h"
#include "util/error.h"

namespace ollmlx::tok {
namespace {

using nlohmann::json;
using testing::mini_bpe;

// Expects from_json(doc) to throw an Error whose message contains `needle`.
void expect_error(const std::string& doc, const std::string& needle) {
  try {
    Tokenizer::from_json(doc);
    ADD_FAILURE() << "accepted: " << doc.substr(0, 200);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message '" << e.what() << "' lacks '" << needle << "'";
  }
}

json base() { return mini_bpe({"a", "b", "ab"}, {"a b"}); }

json with(json j, const std::string& key, const json& value) {
  j[key] = value;
  return j;
}

json with_model(json j, const std::string& key, const json& value) {
  j["model"][key] = value;
  return j;
}

TEST(Malformed, RejectedWithClearErrors) {
  expect_error("", "tokenizer.json");
  expect_error("{\"model\": ", "tokenizer.json");
  expect_error("[]", "top level must be an object");
  expect_error("{}", "missing 'model'");
  expect_error(with(base(), "model", "BPE").dump(), "expected an object");
  expect_error(with_model(base(), "type", "Unigram").dump(), "not supported");
  expect_error(with_model(base(), "type", "Foo").dump(), "unknown model type");
  expect_error(with_model(base(), "vocab", json::array()).dump(), "'vocab' must be an object");
  expect_error(with_model(base(), "vocab", {{"a", -1}}).dump(), "token id must be");
  expect_error(with_model(base(), "vocab", {{"a", "x"}}).dump(), "token id must be");
  expect_error(with_model(base(), "merges", {"a c"}).dump(), "missing from the vocab");
  expect_error(with_model(base(), "merges", {"a b c"}).dump(), "two tokens");
  expect_error(with_model(base(), "merges", {json::array({"a"})}).dump(), "merges[0]");
  expect_error(with_model(base(), "merges", {"b a"}).dump(), "'ba' is missing");
  expect_error(with_model(base(), "dropout", 0.1).dump(), "dropout");
  expect_error(with_model(with_model(base(), "merges", json::array()), "vocab",
                          {{"a", 0}, {"b", 50000000}})
                   .dump(),
               "sparse");
  expect_error(with(base(), "normalizer", {{"type", "Nope"}}).dump(), "unsupported normalizer");
  expect_error(with(base(), "normalizer", {{"kind", "NFC"}}).dump(), "missing 'type'");
  expect_error(with(base(), "normalizer", {{"type", "Replace"}, {"pattern", {{"Regex", "("}}},
                                           {"content", ""}})
                   .dump(),
               "does not compile");
  expect_error(
      with(base(), "normalizer", {{"type", "Replace"}, {"pattern", "x"}, {"content", ""}}).dump(),
      "'pattern'");
  expect_error(with(base(), "pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}},
                                              {"behavior", "Sideways"}, {"invert", false}})
                   .dump(),
               "unknown split behavior");
  expect_error(with(base(), "pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "ab"}}).dump(),
               "single character");
  expect_error(with(base(), "pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", 3}}).dump(),
               "'pretokenizers' must be an array");
  expect_error(with(base(), "pre_tokenizer", {{"type", "UnicodeScripts"}}).dump(),
               "unsupported pre-tokenizer");
  expect_error(with(base(), "decoder", {{"type", "CTC"}}).dump(), "unsupported decoder");
  expect_error(with(base(), "post_processor",
                    {{"type", "TemplateProcessing"},
                     {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}})},
                     {"special_tokens", json::object()}})
                   .dump(),
               "missing from special_tokens");
  expect_error(with(base(), "added_tokens", json::array({{{"content", "x"}}})).dump(),
               "missing 'id'");
  expect_error(with(base(), "added_tokens", json::array({{{"id", 5}, {"content", 7}}})).dump(),
               "'content' must be a string");
}

TEST(Malformed, OddInputsAreHandled) {
  const auto tok = Tokenizer::from_json(
      mini_bpe({"a", "b", "ab", "\xEF\xBF\xBD"}, {"a b"}).dump());
  EXPECT_EQ(tok->encode("ab\xFF" "a"), (std::vector<int32_t>{2, 3, 0}));  // invalid byte -> U+FFFD
  // The NUL is not in the vocab and has no unk: it vanishes and "a", "b" merge (as in HF).
  EXPECT_EQ(tok->encode(std::string("a\0b", 3)), (std::vector<int32_t>{2}));
  EXPECT_EQ(tok->decode({}), "");
  EXPECT_EQ(tok->decode({-5, 7, 2, 1 << 30}), "ab");
  EXPECT_EQ(tok->id_to_token(-1), "");
  EXPECT_FALSE(tok->is_special(99));
}

}  // namespace
}  // namespace ollmlx::tok
