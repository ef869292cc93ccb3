// The BPE model as HF `tokenizers` runs it: characters (or byte-fallback tokens, or unk) become
// symbols, then adjacent pairs merge lowest rank first (leftmost on ties) through a priority
// queue, with the same stale-entry rule as HF's Word::merge_all so results are identical.
#include <algorithm>
#include <array>

#include "tokenizer/model.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ollmlx::tok {
namespace {

using jsonu::Json;

// Open-addressing map (id_a, id_b) -> (rank, new_id); the merge table is hot during encoding.
class PairMap {
 public:
  struct Value {
    uint32_t rank;
    int32_t id;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{kEmpty, {0, 0}});
    mask_ = cap - 1;
  }
  // Inserts or overwrites (a later duplicate merge wins, as in HF's HashMap collect).
  void put(int32_t a, int32_t b, Value v) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const uint64_t key = make_key(a, b);
    size_t i = hash(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
    if (slots_[i].key == kEmpty) ++count_;
    slots_[i] = Slot{key, v};
  }
  const Value* find(int32_t a, int32_t b) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = make_key(a, b);
    size_t i = hash(key);
    while (true) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return count_; }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key;
    Value value;
  };
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t hash(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(std::max<size_t>(16, old.size()));
    count_ = 0;
    for (const Slot& s : old) {
      if (s.key != kEmpty) {
        put(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu),
            s.value);
      }
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

struct Options {
  std::optional<std::string> unk_token;
  std::optional<std::string> prefix;  // continuing_subword_prefix
  std::optional<std::string> suffix;  // end_of_word_suffix
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class Bpe : public Model {
 public:
  Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, Options opt,
      const std::string& where)
      : vocab_(std::move(vocab)), opt_(std::move(opt)) {
    const size_t prefix_len = opt_.prefix ? opt_.prefix->size() : 0;
    merges_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      const int32_t* ia = vocab_.find(a);
      const int32_t* ib = vocab_.find(b);
      if (ia == nullptr || ib == nullptr) {
        jsonu::fail(where, fmt::format("merge {} ('{} {}') uses a token missing from the vocab",
                                       rank, a, b));
      }
      // HF drops the prefix's length from the second token without checking its content.
      if (b.size() < prefix_len) {
        jsonu::fail(where, fmt::format("merge {} ('{} {}'): second token is shorter than the "
                                       "continuing_subword_prefix",
                                       rank, a, b));
      }
      const std::string merged = a + b.substr(prefix_len);
      const int32_t* im = vocab_.find(merged);
      if (im == nullptr) {
        jsonu::fail(where, fmt::format("merge {} ('{} {}'): '{}' is missing from the vocab", rank,
                                       a, b, merged));
      }
      merges_.put(*ia, *ib, {static_cast<uint32_t>(rank), *im});
    }
    // Empty prefix/suffix strings change nothing; treat them as absent.
    if (opt_.prefix && opt_.prefix->empty()) opt_.prefix.reset();
    if (opt_.suffix && opt_.suffix->empty()) opt_.suffix.reset();
    simple_chars_ = !opt_.prefix && !opt_.suffix;
    ascii_ids_.fill(-1);
    vocab_.for_each([this](std::string_view token, int32_t id) {
      size_t len = 0;
      if (token.empty()) return;
      const uint32_t cp = unicode::decode(token, 0, &len);
      if (len != token.size()) return;
      if (cp < 128) {
        ascii_ids_[cp] = id;
      } else {
        char_ids_[cp] = id;
      }
    });
    byte_ids_.fill(-1);
    for (int b = 0; b < 256; ++b) {
      if (const int32_t* id = vocab_.find(fmt::format("<0x{:02X}>", b))) byte_ids_[b] = *id;
    }
    if (opt_.unk_token) {
      if (const int32_t* id = vocab_.find(*opt_.unk_token)) unk_id_ = *id;
    }
  }

  void tokenize(std::string_view word, std::vector<int32_t>& out,
                WordCache* cache) const override {
    if (word.empty()) return;
    if (opt_.ignore_merges) {
      if (const int32_t* id = vocab_.find(word)) {
        out.push_back(*id);
        return;
      }
    }
    const bool cacheable = cache != nullptr && word.size() < 256;
    if (cacheable && cache->lookup(word, out)) return;
    const size_t before = out.size();
    merge_word(word, out);
    if (cacheable) cache->store(word, out.data() + before, out.size() - before);
  }

  std::optional<int32_t> token_to_id(std::string_view token) const override {
    const int32_t* id = vocab_.find(token);
    if (id == nullptr) return std::nullopt;
    return *id;
  }
  size_t size() const override { return vocab_.size(); }
  const Vocab& vocab() const override { return vocab_; }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    uint32_t len;
  };
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
  };
  // Heap order: the top is the lowest rank, then the leftmost position.
  struct Lower {
    bool operator()(const Candidate& x, const Candidate& y) const {
      return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
    }
  };

  int32_t char_id(std::string_view word, size_t i, size_t len, std::string& scratch) const {
    if (simple_chars_) {
      const auto c = static_cast<unsigned char>(word[i]);
      if (c < 128) return ascii_ids_[c];
      size_t n = 0;
      const auto it = char_ids_.find(unicode::decode(word, i, &n));
      return it == char_ids_.end() ? -1 : it->second;
    }
    scratch.clear();
    if (opt_.prefix && i != 0) scratch += *opt_.prefix;
    scratch.append(word.substr(i, len));
    if (opt_.suffix && i + len == word.size()) scratch += *opt_.suffix;
    const int32_t* id = vocab_.find(scratch);
    return id == nullptr ? -1 : *id;
  }

  int32_t unk_id() const {
    if (!unk_id_) {
      throw_error("tokenizer", "BPE unk_token '{}' is not in the vocabulary", *opt_.unk_token);
    }
    return *unk_id_;
  }

  void merge_word(std::string_view w, std::vector<int32_t>& out) const {
    thread_local std::vector<Symbol> symbols;
    thread_local std::vector<Candidate> heap;
    thread_local std::string scratch;
    symbols.clear();
    heap.clear();
    auto add = [](int32_t id, uint32_t len) {
      const auto n = static_cast<int32_t>(symbols.size());
      if (n > 0) symbols.back().next = n;
      symbols.push_back({id, n - 1, -1, len});
    };
    bool have_unk = false;
    int32_t pending_unk = -1;
    uint32_t pending_len = 0;
    size_t i = 0;
    while (i < w.size()) {
      const size_t len = unicode::char_len(static_cast<unsigned char>(w[i]));
      const int32_t id = char_id(w, i, len, scratch);
      if (id >= 0) {
        if (have_unk) {
          add(pending_unk, pending_len);
          have_unk = false;
        }
        add(id, static_cast<uint32_t>(len));
        i += len;
        continue;
      }
      if (opt_.byte_fallback) {
        // The bytes of the symbol string (with prefix/suffix, as HF builds it).
        std::string_view s = w.substr(i, len);
        if (!simple_chars_) s = scratch;
        bool all = true;
        for (unsigned char b : s) all = all && byte_ids_[b] >= 0;
        if (all) {
          for (unsigned char b : s) add(byte_ids_[b], 1);
          i += len;
          continue;  // HF leaves a pending unk in place here
        }
      }
      if (opt_.unk_token) {
        if (have_unk && opt_.fuse_unk) {
          pending_len += static_cast<uint32_t>(len);
        } else {
          if (have_unk) add(pending_unk, pending_len);
          pending_unk = unk_id();
          pending_len = static_cast<uint32_t>(len);
          have_unk = true;
        }
      }
      i += len;
    }
    if (have_unk) add(pending_unk, pending_len);

    const Lower lower;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      if (const PairMap::Value* m = merges_.find(symbols[k].id, symbols[k + 1].id)) {
        heap.push_back({m->rank, static_cast<uint32_t>(k), m->id});
      }
    }
    std::make_heap(heap.begin(), heap.end(), lower);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), lower);
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& cur = symbols[top.pos];
      if (cur.len == 0 || cur.next == -1) continue;
      const auto next_pos = static_cast<size_t>(cur.next);
      const Symbol right = symbols[next_pos];
      const PairMap::Value* m = merges_.find(cur.id, right.id);
      if (m == nullptr || m->id != top.new_id) continue;  // stale entry
      cur.id = top.new_id;
      cur.len += right.len;
      cur.next = right.next;
      symbols[next_pos].len = 0;
      if (right.next >= 0) {
        symbols[static_cast<size_t>(right.next)].prev = static_cast<int32_t>(top.pos);
      }
      if (cur.prev >= 0) {
        const Symbol& prev = symbols[static_cast<size_t>(cur.prev)];
        if (const PairMap::Value* pm = merges_.find(prev.id, cur.id)) {
          heap.push_back({pm->rank, static_cast<uint32_t>(cur.prev), pm->id});
          std::push_heap(heap.begin(), heap.end(), lower);
        }
      }
      if (cur.next >= 0) {
        const Symbol& nxt = symbols[static_cast<size_t>(cur.next)];
        if (const PairMap::Value* nm = merges_.find(cur.id, nxt.id)) {
          heap.push_back({nm->rank, top.pos, nm->id});
          std::push_heap(heap.begin(), heap.end(), lower);
        }
      }
    }
    for (const Symbol& s : symbols) {
      if (s.len != 0) out.push_back(s.id);
    }
  }

  Vocab vocab_;
  Options opt_;
  PairMap merges_;
  bool simple_chars_ = true;
  std::array<int32_t, 128> ascii_ids_{};
  std::unordered_map<uint32_t, int32_t> char_ids_;
  std::array<int32_t, 256> byte_ids_{};
  std::optional<int32_t> unk_id_;
};

std::optional<std::string> opt_string(const Json& v, const char* key, const std::string& at) {
  return jsonu::get_opt_string(v, key, at);
}

}  // namespace

Vocab parse_vocab(const Json& v, const std::string& at) {
  const Json* vocab = jsonu::field(v, "vocab");
  if (vocab == nullptr || !vocab->is_object()) jsonu::fail(at, "'vocab' must be an object");
  Vocab out;
  out.reserve(vocab->size());
  for (const auto& [token, id] : vocab->items()) {
    out.put(token, jsonu::as_id(id, jsonu::child(at, "vocab[" + token + "]")));
  }
  return out;
}

std::unique_ptr<Model> parse_bpe(const Json& v, const std::string& at) {
  if (const Json* d = jsonu::field(v, "dropout")) {
    if (!d->is_number() || d->get<double>() != 0.0) {
      jsonu::fail(at, "BPE dropout must be null (dropout makes encoding random)");
    }
  }
  Vocab vocab = parse_vocab(v, at);
  const Json* merges_json = jsonu::field(v, "merges");
  std::vector<std::pair<std::string, std::string>> merges;
  if (merges_json != nullptr) {
    if (!merges_json->is_array()) jsonu::fail(at, "'merges' must be an array");
    merges.reserve(merges_json->size());
    for (size_t i = 0; i < merges_json->size(); ++i) {
      const Json& m = (*merges_json)[i];
      if (m.is_string()) {
        const std::string& line = m.get_ref<const std::string&>();
        const size_t sp = line.find(' ');
        if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
          jsonu::fail(at, fmt::format("merges[{}] '{}' is not two tokens separated by a space", i,
                                      line));
        }
        merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        jsonu::fail(at, fmt::format("merges[{}] must be \"a b\" or [\"a\", \"b\"]", i));
      }
    }
  }
  Options opt;
  opt.unk_token = opt_string(v, "unk_token", at);
  opt.prefix = opt_string(v, "continuing_subword_prefix", at);
  opt.suffix = opt_string(v, "end_of_word_suffix", at);
  opt.fuse_unk = jsonu::get_bool(v, "fuse_unk", false, at);
  opt.byte_fallback = jsonu::get_bool(v, "byte_fallback", false, at);
  opt.ignore_merges = jsonu::get_bool(v, "ignore_merges", false, at);
  return std::make_unique<Bpe>(std::move(vocab), merges, std::move(opt), at);
}

}  // namespace ollmlx::tok
