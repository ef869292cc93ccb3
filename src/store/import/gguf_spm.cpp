// SentencePiece tokenizers from GGUF metadata (gguf_spm.h). The merge order reproduces the
// tokenizer.json that transformers writes for a SentencePiece model: for Gemma 3's GGUF the
// derived merges equal the real tokenizer.json's, all 514,906 in order (checked by
// tests/unit/import/test_import_spm.cpp against the real file).
#include "store/import/gguf_spm.h"

#include <algorithm>
#include <cmath>

namespace ollmlx::gguf {
namespace {

constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's space

int64_t code_points(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

using OJson = nlohmann::ordered_json;

OJson replace(std::string_view from, std::string_view to) {
  return OJson{{"type", "Replace"}, {"pattern", OJson{{"String", std::string(from)}}}, {"content", std::string(to)}};
}

}  // namespace

std::string spm_respell_user_defined(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == ' ')
      out += kSpace;
    else
      out += c;
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> spm_merges(
    const Meta& meta, const std::vector<std::string_view>& tokens, const std::vector<int64_t>& types,
    const std::unordered_map<std::string_view, int64_t>& vocab) {
  const size_t n = tokens.size();
  std::vector<double> scores(n, 0.0);
  if (const Value* sv = meta.get("tokenizer.ggml.scores")) {
    if (!sv->is_array() || sv->is_string_array()) meta.fail("tokenizer.ggml.scores must be a numeric array");
    if (sv->numbers.size() != n)
      meta.fail("tokenizer.ggml.scores has {} values for {} tokens", sv->numbers.size(), n);
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(sv->numbers[i])) meta.fail("tokenizer.ggml.scores[{}] is not a number", i);
      scores[i] = types[i] == 3 || types[i] == 4 ? 0.0 : sv->numbers[i];
    }
  }
  // Each split of a token hashes both pieces: the work is the sum of squared token lengths
  // (Gemma 3: 2.7e7). A hostile vocabulary of long tokens is refused rather than ground through.
  uint64_t work = 0;
  for (std::string_view t : tokens) work += static_cast<uint64_t>(t.size()) * t.size();
  if (work > (uint64_t{1} << 30)) meta.fail("tokenizer.ggml.tokens: the tokens are too long to derive merges from");
  struct Merge {
    double score;
    int64_t left_chars, right_chars, left, right;
  };
  std::vector<Merge> merges, local;
  std::unordered_map<std::string_view, bool> seen;  // a token spelled twice is split once
  for (size_t i = 0; i < n; ++i) {
    const std::string_view t = tokens[i];
    if (!seen.emplace(t, true).second) continue;
    local.clear();
    int64_t left_chars = 0;
    for (size_t k = 1; k < t.size(); ++k) {
      if ((static_cast<unsigned char>(t[k - 1]) & 0xC0) != 0x80) ++left_chars;
      if ((static_cast<unsigned char>(t[k]) & 0xC0) == 0x80) continue;  // not a character boundary
      const auto l = vocab.find(t.substr(0, k));
      if (l == vocab.end()) continue;
      const auto r = vocab.find(t.substr(k));
      if (r == vocab.end()) continue;
      local.push_back({scores[i], left_chars, code_points(t.substr(k)), l->second, r->second});
    }
    std::sort(local.begin(), local.end(), [](const Merge& a, const Merge& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    return a.right_chars > b.right_chars;
  });
  std::vector<std::pair<int64_t, int64_t>> out;
  out.reserve(merges.size());
  for (const Merge& m : merges) out.emplace_back(m.left, m.right);
  return out;
}

OJson spm_normalizer(bool add_space_prefix) {
  if (!add_space_prefix) return replace(" ", kSpace);
  return OJson{{"type", "Sequence"},
               {"normalizers", OJson::array({OJson{{"type", "Prepend"}, {"prepend", std::string(kSpace)}},
                                             replace(" ", kSpace)})}};
}

OJson spm_decoder(bool add_space_prefix) {
  OJson decoders = OJson::array({replace(kSpace, " "), OJson{{"type", "ByteFallback"}}, OJson{{"type", "Fuse"}}});
  if (add_space_prefix)
    decoders.push_back(OJson{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  return OJson{{"type", "Sequence"}, {"decoders", decoders}};
}

}  // namespace ollmlx::gguf
