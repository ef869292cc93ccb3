// AddedVocabulary: HF's id assignment and its added-token matching (find_matches), with a byte
// trie standing in for the aho-corasick automaton.
#include "tokenizer/added_tokens.h"

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace ollmlx::tok {
namespace {

// Start of the run of whitespace that ends `s` (Rust regex `\s*$`).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t i = end - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    size_t len = 0;
    if (!unicode::is_whitespace(unicode::decode(s, i, &len))) break;
    end = i;
  }
  return end;
}

// Length of the run of whitespace that starts `s` (Rust regex `^\s*`).
size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    if (!unicode::is_whitespace(unicode::decode(s, i, &len))) break;
    i += len;
  }
  return i;
}

}  // namespace

void AddedVocabulary::Trie::clear() {
  terminal.assign(1, -1);
  edges.clear();
  first.fill(false);
}

void AddedVocabulary::Trie::insert(std::string_view pattern, int32_t id) {
  if (pattern.empty()) return;
  first[static_cast<unsigned char>(pattern[0])] = true;
  uint32_t node = 0;
  for (unsigned char c : pattern) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
    const auto it = edges.find(key);
    if (it != edges.end()) {
      node = it->second;
    } else {
      const auto next = static_cast<uint32_t>(terminal.size());
      terminal.push_back(-1);
      edges.emplace(key, next);
      node = next;
    }
  }
  if (terminal[node] < 0) terminal[node] = id;
}

size_t AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos, int32_t* id) const {
  uint32_t node = 0;
  size_t best = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]);
    const auto it = edges.find(key);
    if (it == edges.end()) break;
    node = it->second;
    if (terminal[node] >= 0) {
      best = i + 1 - pos;
      *id = terminal[node];
    }
  }
  return best;
}

std::vector<std::string> AddedVocabulary::build(const std::vector<AddedToken>& tokens,
                                                const Model& model,
                                                const NormalizerChain& normalizer) {
  std::vector<std::string> warnings;
  for (const AddedToken& token : tokens) {
    if (token.special && !token.content.empty() && special_set_.count(token.content) == 0) {
      special_tokens_.push_back(token);
      special_set_.insert(token.content);
    }
    // HF ignores a token equal (all fields) to one already added; only one with the same
    // content can be, and it sits at that content's id.
    bool ignored = token.content.empty();
    if (const auto same = map_.find(token.content); !ignored && same != map_.end()) {
      const auto it = by_id_.find(same->second);
      ignored = it != by_id_.end() && it->second == token;
    }
    if (!ignored) {
      int32_t new_id = 0;
      if (auto existing = token_to_id(token.content)) {
        new_id = *existing;
      } else if (auto in_model = model.token_to_id(token.content)) {
        new_id = *in_model;
      } else {
        const auto model_size = static_cast<int64_t>(model.size());
        const int64_t max_id = max_id_;
        const int64_t next =
            max_id < 0 ? model_size : (max_id >= model_size || model_size == 0 ? max_id + 1
                                                                                : model_size);
        if (next > 0x7FFFFFFF) jsonu::fail("tokenizer.json: added_tokens", "too many tokens");
        new_id = static_cast<int32_t>(next);
      }
      map_[token.content] = new_id;
      max_id_ = std::max<int64_t>(max_id_, new_id);
      by_id_[new_id] = token;
      if (special_set_.count(token.content) == 0) added_tokens_.push_back(token);
    }
    const auto assigned = token_to_id(token.content);
    if (!token.content.empty() && assigned && *assigned != token.id) {
      warnings.push_back(fmt::format("token '{}' was expected to have id {} but was given id {}",
                                     token.content, token.id, *assigned));
    }
  }
  refresh(model, normalizer);
  return warnings;
}

void AddedVocabulary::refresh(const Model& model, const NormalizerChain& normalizer) {
  raw_.clear();
  normalized_.clear();
  auto add = [&](const AddedToken& t) {
    std::optional<int32_t> id = token_to_id(t.content);
    if (!id) id = model.token_to_id(t.content);
    if (!id) return;
    if (t.normalized) {
      normalized_.insert(normalizer.normalize_text(t.content), *id);
    } else {
      raw_.insert(t.content, *id);
    }
  };
  for (const AddedToken& t : special_tokens_) add(t);
  for (const AddedToken& t : added_tokens_) add(t);
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  const auto it = map_.find(content);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::content_of(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.content;
}

void AddedVocabulary::find(std::string_view s, const Trie& trie, bool parse_special,
                           std::vector<Span>& out) const {
  out.clear();
  const size_t n = s.size();
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < n) {
    if (!trie.first[static_cast<unsigned char>(s[pos])]) {
      ++pos;
      continue;
    }
    int32_t id = -1;
    const size_t len = trie.longest_at(s, pos, &id);
    if (len == 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // the automaton resumes after the match, even if it is discarded below
    const auto found = by_id_.find(id);
    if (found == by_id_.end()) continue;
    const AddedToken& tok = found->second;
    if (!parse_special && is_special(tok.content)) continue;
    if (tok.single_word) {
      const bool start_space = start == 0 || !ends_with_word_char(s.substr(0, start));
      const bool stop_space = stop == n || !starts_with_word_char(s.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
    if (tok.rstrip) stop += leading_space_len(s.substr(stop));
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, id});
    start_offset = stop;
  }
  if (start_offset != n) out.push_back({start_offset, n, -1});
}

}  // namespace ollmlx::tok
