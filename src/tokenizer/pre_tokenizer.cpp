// The pre-tokenizers of tokenizer.json, each splitting one piece as HF's PreTokenizedString::split
// does for one NormalizedString (see pre_tokenizer.h for the list).
#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace ollmlx::tok {
namespace {

using jsonu::Json;

// HF's `impl Pattern for Fn(char) -> bool`: every matching character is its own match.
template <class Pred>
void char_matches(std::string_view s, Pred pred, std::vector<Match>& out) {
  out.clear();
  if (s.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  size_t last = 0, i = 0;
  while (i < s.size()) {
    size_t len = 0;
    const uint32_t cp = unicode::decode(s, i, &len);
    if (pred(cp)) {
      if (last < i) out.push_back({last, i, false});
      out.push_back({i, i + len, true});
      last = i + len;
    }
    i += len;
  }
  if (s.size() > last) out.push_back({last, s.size(), false});
}

Behavior parse_behavior(const Json& obj, const char* key, const char* fallback,
                        const std::string& where) {
  const std::string b = jsonu::field(obj, key) == nullptr && fallback != nullptr
                            ? std::string(fallback)
                            : jsonu::get_string(obj, key, where);
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  jsonu::fail(where, fmt::format("unknown split behavior '{}'", b));
}

// Maps every byte to GPT-2's alphabet; the zero-aligned prefix maps along.
void map_piece_bytes(Piece& p) {
  std::string out;
  byte_level::map_bytes(p.text, out);
  if (p.zero_prefix > 0) {
    size_t z = 0;
    for (size_t i = 0; i < p.zero_prefix && i < p.text.size(); ++i) {
      z += byte_level::char_of(static_cast<uint8_t>(p.text[i])).size();
    }
    p.zero_prefix = static_cast<uint32_t>(z);
  }
  p.text = std::move(out);
}

class ByteLevelPre : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    if (use_regex_) re_ = Pattern::regex(byte_level::kGpt2Pattern);
  }
  void split(Piece&& in, std::vector<Piece>& out) const override {
    if (add_prefix_space_ && in.text[0] != ' ') prepend_to_piece(in, " ");
    if (!use_regex_) {
      map_piece_bytes(in);
      out.push_back(std::move(in));
      return;
    }
    std::vector<Match> m;
    re_.find_matches(in.text, m);
    const size_t first = out.size();
    split_piece(in, m, Behavior::Isolated, out);
    for (size_t i = first; i < out.size(); ++i) map_piece_bytes(out[i]);
  }

 private:
  bool add_prefix_space_, use_regex_;
  Pattern re_;
};

class SplitPre : public PreTokenizer {
 public:
  SplitPre(Pattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void split(Piece&& in, std::vector<Piece>& out) const override {
    std::vector<Match> m;
    pattern_.find_matches(in.text, m, invert_);
    split_piece(in, m, behavior_, out);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class DigitsPre : public PreTokenizer {
 public:
  explicit DigitsPre(bool individual) : individual_(individual) {}
  void split(Piece&& in, std::vector<Piece>& out) const override {
    std::vector<Match> m;
    char_matches(in.text, unicode::is_numeric, m);
    split_piece(in, m, individual_ ? Behavior::Isolated : Behavior::Contiguous, out);
  }

 private:
  bool individual_;
};

enum class PrependScheme { Always, First, Never };

class MetaspacePre : public PreTokenizer {
 public:
  MetaspacePre(std::string replacement, PrependScheme scheme, bool split)
      : rep_(std::move(replacement)), scheme_(scheme), split_(split),
        space_(Pattern::literal(" ")), rep_pattern_(Pattern::literal(rep_)) {}
  void split(Piece&& in, std::vector<Piece>& out) const override {
    replace_in_piece(in, space_, rep_);
    const bool starts = in.text.compare(0, rep_.size(), rep_) == 0;
    if (!starts && (scheme_ == PrependScheme::Always ||
                    (scheme_ == PrependScheme::First && in.at_origin))) {
      prepend_to_piece(in, rep_);
    }
    if (!split_) {
      if (!in.text.empty()) out.push_back(std::move(in));
      return;
    }
    std::vector<Match> m;
    rep_pattern_.find_matches(in.text, m);
    split_piece(in, m, Behavior::MergedWithNext, out);
  }

 private:
  std::string rep_;
  PrependScheme scheme_;
  bool split_;
  Pattern space_, rep_pattern_;
};

// Whitespace: the Rust-regex `\w+|[^\w\s]+` runs are kept, everything else removed.
class WhitespacePre : public PreTokenizer {
 public:
  WhitespacePre()
      : re_(Pattern::pcre2("[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+|"
                           "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}"
                           "\\t-\\r\\x{85}\\p{Z}]+")) {}
  void split(Piece&& in, std::vector<Piece>& out) const override {
    std::vector<Match> m;
    re_.find_matches(in.text, m, /*invert=*/true);
    split_piece(in, m, Behavior::Removed, out);
  }

 private:
  Pattern re_;
};

class WhitespaceSplitPre : public PreTokenizer {
 public:
  void split(Piece&& in, std::vector<Piece>& out) const override {
    std::vector<Match> m;
    char_matches(in.text, unicode::is_whitespace, m);
    split_piece(in, m, Behavior::Removed, out);
  }
};

class PunctuationPre : public PreTokenizer {
 public:
  explicit PunctuationPre(Behavior behavior) : behavior_(behavior) {}
  void split(Piece&& in, std::vector<Piece>& out) const override {
    std::vector<Match> m;
    char_matches(in.text, unicode::is_punctuation, m);
    split_piece(in, m, behavior_, out);
  }

 private:
  Behavior behavior_;
};

class BertPre : public PreTokenizer {
 public:
  void split(Piece&& in, std::vector<Piece>& out) const override {
    std::vector<Match> m;
    std::vector<Piece> words;
    char_matches(in.text, unicode::is_whitespace, m);
    split_piece(in, m, Behavior::Removed, words);
    for (const Piece& w : words) {
      char_matches(w.text, unicode::is_punctuation, m);
      split_piece(w, m, Behavior::Isolated, out);
    }
  }
};

class CharDelimiterPre : public PreTokenizer {
 public:
  explicit CharDelimiterPre(std::string delimiter) : pattern_(Pattern::literal(delimiter)) {}
  void split(Piece&& in, std::vector<Piece>& out) const override {
    std::vector<Match> m;
    pattern_.find_matches(in.text, m);
    split_piece(in, m, Behavior::Removed, out);
  }

 private:
  Pattern pattern_;
};

}  // namespace

void split_piece(const Piece& p, const std::vector<Match>& matches, Behavior behavior,
                 std::vector<Piece>& out) {
  struct Range {
    size_t start, end;
    bool remove;
  };
  std::vector<Range> r;
  r.reserve(matches.size());
  bool previous = false;
  switch (behavior) {
    case Behavior::Isolated:
      for (const Match& m : matches) r.push_back({m.start, m.end, false});
      break;
    case Behavior::Removed:
      for (const Match& m : matches) r.push_back({m.start, m.end, m.is_match});
      break;
    case Behavior::Contiguous:
      for (const Match& m : matches) {
        if (m.is_match == previous && !r.empty()) {
          r.back().end = m.end;
        } else {
          r.push_back({m.start, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    case Behavior::MergedWithPrevious:
      for (const Match& m : matches) {
        if (m.is_match && !previous && !r.empty()) {
          r.back().end = m.end;
        } else {
          r.push_back({m.start, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous && !r.empty()) {
          r.back().start = it->start;
        } else {
          r.push_back({it->start, it->end, false});
        }
        previous = it->is_match;
      }
      std::reverse(r.begin(), r.end());
      break;
  }
  for (const Range& x : r) {
    if (!x.remove && x.end > x.start) out.push_back(p.slice(x.start, x.end));
  }
}

PreTokenizerChain PreTokenizerChain::parse(const Json& value, std::string_view where) {
  PreTokenizerChain chain;
  if (!value.is_null()) chain.add(value, std::string(where));
  return chain;
}

void PreTokenizerChain::add(const Json& v, const std::string& where) {
  const std::string type = jsonu::type_of(v, where);
  const std::string at = where + " (" + type + ")";
  if (type == "Sequence") {
    const Json* list = jsonu::field(v, "pretokenizers");
    if (list == nullptr || !list->is_array()) jsonu::fail(at, "'pretokenizers' must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      add((*list)[i], jsonu::index(jsonu::child(where, "pretokenizers"), i));
    }
  } else if (type == "ByteLevel") {
    steps_.push_back(
        std::make_unique<ByteLevelPre>(jsonu::get_bool(v, "add_prefix_space", true, at),
                                       jsonu::get_bool(v, "use_regex", true, at)));
  } else if (type == "Split") {
    steps_.push_back(std::make_unique<SplitPre>(parse_pattern(v, "pattern", at),
                                                parse_behavior(v, "behavior", nullptr, at),
                                                jsonu::get_bool(v, "invert", false, at)));
  } else if (type == "Digits") {
    steps_.push_back(
        std::make_unique<DigitsPre>(jsonu::get_bool(v, "individual_digits", false, at)));
  } else if (type == "Metaspace") {
    std::string rep = jsonu::get_char(v, "replacement", at);
    PrependScheme scheme = PrependScheme::Always;
    if (auto s = jsonu::get_opt_string(v, "prepend_scheme", at)) {
      if (*s == "always") {
        scheme = PrependScheme::Always;
      } else if (*s == "first") {
        scheme = PrependScheme::First;
      } else if (*s == "never") {
        scheme = PrependScheme::Never;
      } else {
        jsonu::fail(at, fmt::format("unknown prepend_scheme '{}'", *s));
      }
      if (!jsonu::get_bool(v, "add_prefix_space", true, at) && scheme != PrependScheme::Never) {
        jsonu::fail(at, "add_prefix_space does not match declared prepend_scheme");
      }
    } else if (!jsonu::get_bool(v, "add_prefix_space", true, at)) {
      scheme = PrependScheme::Never;  // pre-prepend_scheme files
    }
    steps_.push_back(std::make_unique<MetaspacePre>(std::move(rep), scheme,
                                                    jsonu::get_bool(v, "split", true, at)));
  } else if (type == "Whitespace") {
    steps_.push_back(std::make_unique<WhitespacePre>());
  } else if (type == "WhitespaceSplit") {
    steps_.push_back(std::make_unique<WhitespaceSplitPre>());
  } else if (type == "Punctuation") {
    steps_.push_back(
        std::make_unique<PunctuationPre>(parse_behavior(v, "behavior", "Isolated", at)));
  } else if (type == "BertPreTokenizer") {
    steps_.push_back(std::make_unique<BertPre>());
  } else if (type == "CharDelimiterSplit") {
    steps_.push_back(std::make_unique<CharDelimiterPre>(jsonu::get_char(v, "delimiter", at)));
  } else {
    jsonu::fail(at, "unsupported pre-tokenizer type");
  }
}

}  // namespace ollmlx::tok
