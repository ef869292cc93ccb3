// Parity with Hugging Face `tokenizers`: for every real tokenizer in the fixtures (written by
// tools/make_tokenizer_refs.py) and every corpus entry, the ids (with and without special
// tokens, and with special-token text split as plain text) and the decoded strings (keeping and
// skipping special tokens) must be identical. The stream decoder must reproduce decode() too.
#include <gtest/gtest.h>

#include <filesystem>

#include "tok_test_util.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace ollmlx::tok {
namespace {

using nlohmann::json;

std::string show_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size() && i < 40; ++i) s += std::to_string(ids[i]) + " ";
  if (ids.size() > 40) s += "...";
  return s;
}

std::string first_diff(const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "first difference at " + std::to_string(i) + " (got " + std::to_string(got.size()) +
         " ids, want " + std::to_string(want.size()) + ")\n  got:  " +
         show_ids(std::vector<int32_t>(got.begin() + std::min(i, got.size()), got.end())) +
         "\n  want: " +
         show_ids(std::vector<int32_t>(want.begin() + std::min(i, want.size()), want.end()));
}

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  StreamDecoder dec(tok, skip);
  std::string out;
  for (int32_t id : ids) out += dec.push(id);
  out += dec.flush();
  return out;
}

class TokenizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerParity, MatchesHuggingFace) {
  const std::string dir = testing::fixtures_dir() + "/" + GetParam();
  if (!std::filesystem::exists(dir + "/refs.json")) {
    if (testing::fixtures_required()) FAIL() << "missing fixtures: " << dir << "/refs.json";
    GTEST_SKIP() << "no fixtures at " << dir << " (run tools/make_tokenizer_refs.py)";
  }
  const json refs = json::parse(testing::read_file(dir + "/refs.json"));
  const auto tok = Tokenizer::load(dir);
  EXPECT_EQ(tok->vocab_size(), refs["vocab_size"].get<int32_t>());

  int identical = 0, total = 0;
  for (const json& e : refs["entries"]) {
    ++total;
    const std::string name = e["name"];
    const std::string text = e["text"];
    bool ok = true;
    const auto check_ids = [&](const char* what, const std::vector<int32_t>& got) {
      const auto want = e[what].get<std::vector<int32_t>>();
      if (got != want) {
        ok = false;
        ADD_FAILURE() << GetParam() << " / " << name << " / " << what << ": "
                      << first_diff(got, want);
      }
    };
    const std::vector<int32_t> ids = tok->encode(text, true, true);
    check_ids("ids", ids);
    check_ids("ids_plain", tok->encode(text, false, true));
    check_ids("ids_split", tok->encode(text, true, false));
    const auto want_ids = e["ids"].get<std::vector<int32_t>>();
    const std::string decoded = tok->decode(want_ids, false);
    const std::string decoded_skip = tok->decode(want_ids, true);
    if (decoded != e["decode"].get<std::string>()) {
      ok = false;
      ADD_FAILURE() << GetParam() << " / " << name << " / decode:\n  got:  " << json(decoded)
                    << "\n  want: " << e["decode"];
    }
    if (decoded_skip != e["decode_skip"].get<std::string>()) {
      ok = false;
      ADD_FAILURE() << GetParam() << " / " << name << " / decode_skip:\n  got:  "
                    << json(decoded_skip) << "\n  want: " << e["decode_skip"];
    }
    EXPECT_EQ(streamed(*tok, want_ids, false), e["decode"].get<std::string>())
        << GetParam() << " / " << name << " / stream";
    EXPECT_EQ(streamed(*tok, want_ids, true), e["decode_skip"].get<std::string>())
        << GetParam() << " / " << name << " / stream skip";
    identical += ok;
  }
  int random_ok = 0, random_total = 0;
  for (const json& r : refs["random"]) {
    ++random_total;
    const auto ids = r["ids"].get<std::vector<int32_t>>();
    const std::string d = tok->decode(ids, false), ds = tok->decode(ids, true);
    EXPECT_EQ(d, r["decode"].get<std::string>()) << GetParam() << " random " << show_ids(ids);
    EXPECT_EQ(ds, r["decode_skip"].get<std::string>()) << GetParam() << " random skip";
    EXPECT_EQ(streamed(*tok, ids, false), d) << GetParam() << " random stream " << show_ids(ids);
    random_ok += d == r["decode"].get<std::string>() && ds == r["decode_skip"].get<std::string>();
  }
  std::printf("[parity] %-9s corpus %d/%d identical, random decodes %d/%d identical\n",
              GetParam().c_str(), identical, total, random_ok, random_total);
}

// Real tokenizers, then the synthetic ones covering the remaining components.
INSTANTIATE_TEST_SUITE_P(
    Families, TokenizerParity,
    ::testing::Values("llama3", "llama3_1", "qwen3", "llama2", "gemma3", "smollm2",
                      "syn_metaspace_first", "syn_metaspace_always_nosplit", "syn_metaspace_never",
                      "syn_byte_fallback_unk", "syn_bytelevel_base", "syn_split_removed",
                      "syn_split_merged_prev", "syn_split_merged_next_invert",
                      "syn_split_contiguous_digits", "syn_whitespace", "syn_whitespace_split_punct",
                      "syn_bert_pre", "syn_normalizers", "syn_nfd_accents_prepend",
                      "syn_misc_normalizers", "syn_added_flags", "syn_template",
                      "syn_llama3_merges", "syn_bpe_prefix_suffix", "syn_bpe_wordpiece_decoder",
                      "syn_wordlevel"),
    [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace ollmlx::tok
