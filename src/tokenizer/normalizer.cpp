// The normalizers of tokenizer.json, applied to one piece at a time exactly as HF applies them
// to each NormalizedString (see normalizer.h for the list).
#include "tokenizer/normalizer.h"

#include <functional>

#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace ollmlx::tok {
namespace {

using jsonu::Json;

// Replaces the text by f(text); the zero-aligned prefix becomes f(prefix) (exact for the
// character-wise maps, a close approximation for composition).
void map_text(Piece& p, const std::function<std::string(std::string_view)>& f) {
  std::string out = f(p.text);
  if (p.zero_prefix > 0) {
    const size_t z = f(std::string_view(p.text).substr(0, p.zero_prefix)).size();
    p.zero_prefix = static_cast<uint32_t>(std::min(z, out.size()));
  }
  p.text = std::move(out);
}

// Keeps the characters for which keep(cp) is true, replacing each by repl(cp) (UTF-8).
std::string filter_map(std::string_view s, const std::function<bool(uint32_t)>& keep,
                       const std::function<uint32_t(uint32_t)>& repl) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    const uint32_t cp = unicode::decode(s, i, &len);
    i += len;
    if (keep(cp)) unicode::append_utf8(out, repl(cp));
  }
  return out;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::Form form) : form_(form) {}
  void normalize(Piece& p) const override {
    map_text(p, [this](std::string_view s) { return unicode::normalize(s, form_); });
  }

 private:
  unicode::Form form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(Piece& p) const override {
    map_text(p, [](std::string_view s) { return unicode::lowercase(s); });
  }
};

class Replace : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(Piece& p) const override { replace_in_piece(p, pattern_, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(Piece& p) const override { prepend_to_piece(p, prefix_); }

 private:
  std::string prefix_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(Piece& p) const override {
    const std::string& s = p.text;
    size_t begin = 0, end = s.size();
    if (left_) {
      while (begin < end) {
        size_t len = 0;
        if (!unicode::is_whitespace(unicode::decode(s, begin, &len))) break;
        begin += len;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t i = end - 1;
        while (i > begin && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
        size_t len = 0;
        if (!unicode::is_whitespace(unicode::decode(s, i, &len))) break;
        end = i;
      }
    }
    if (begin == 0 && end == s.size()) return;
    const size_t zp = p.zero_prefix;
    p.zero_prefix = zp > begin ? static_cast<uint32_t>(std::min(zp, end) - begin) : 0;
    p.text = s.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  void normalize(Piece& p) const override {
    map_text(p, [](std::string_view s) {
      return filter_map(
          s, [](uint32_t cp) { return !unicode::is_mark(cp); }, [](uint32_t cp) { return cp; });
    });
  }
};

class Nmt : public Normalizer {
 public:
  void normalize(Piece& p) const override {
    map_text(p, [](std::string_view s) {
      return filter_map(
          s,
          [](uint32_t c) {
            return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) ||
                     c == 0x7F || c == 0x8F || c == 0x9F);
          },
          [](uint32_t c) -> uint32_t {
            const bool space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
                               (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 ||
                               c == 0x2581 || c == 0xFEFF || c == 0xFFFD;
            return space ? ' ' : c;
          });
    });
  }
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean, bool chinese, bool strip_accents, bool lower)
      : clean_(clean), chinese_(chinese), strip_accents_(strip_accents), lower_(lower) {}
  void normalize(Piece& p) const override {
    map_text(p, [this](std::string_view s) { return apply(s); });
  }

 private:
  std::string apply(std::string_view in) const {
    std::string s(in);
    if (clean_) {
      s = filter_map(
          s,
          [](uint32_t c) {
            const bool control = c != '\t' && c != '\n' && c != '\r' && unicode::is_other(c);
            return !(c == 0 || c == 0xFFFD || control);
          },
          [](uint32_t c) -> uint32_t {
            const bool ws = c == '\t' || c == '\n' || c == '\r' || unicode::is_whitespace(c);
            return ws ? ' ' : c;
          });
    }
    if (chinese_) {
      std::string out;
      size_t i = 0;
      while (i < s.size()) {
        size_t len = 0;
        const uint32_t cp = unicode::decode(s, i, &len);
        if (unicode::is_chinese_char(cp)) {
          out += ' ';
          out.append(s, i, len);
          out += ' ';
        } else {
          out.append(s, i, len);
        }
        i += len;
      }
      s = std::move(out);
    }
    if (strip_accents_) {
      s = filter_map(
          unicode::normalize(s, unicode::Form::NFD),
          [](uint32_t cp) { return !unicode::is_nonspacing_mark(cp); },
          [](uint32_t cp) { return cp; });
    }
    if (lower_) s = unicode::lowercase(s);
    return s;
  }
  bool clean_, chinese_, strip_accents_, lower_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(Piece& p) const override {
    map_text(p, [](std::string_view s) {
      std::string out;
      byte_level::map_bytes(s, out);
      return out;
    });
  }
};

}  // namespace

// {"String": "..."} or {"Regex": "..."}.
Pattern parse_pattern(const Json& obj, const char* key, const std::string& where) {
  const Json* v = jsonu::field(obj, key);
  if (v == nullptr || !v->is_object() || v->size() != 1) {
    jsonu::fail(where, fmt::format("'{}' must be {{\"String\": ...}} or {{\"Regex\": ...}}", key));
  }
  if (const Json* s = jsonu::field(*v, "String")) {
    if (!s->is_string()) jsonu::fail(where, "pattern String must be a string");
    return Pattern::literal(s->get<std::string>());
  }
  if (const Json* r = jsonu::field(*v, "Regex")) {
    if (!r->is_string()) jsonu::fail(where, "pattern Regex must be a string");
    return Pattern::regex(r->get<std::string>());
  }
  jsonu::fail(where, fmt::format("'{}' must be {{\"String\": ...}} or {{\"Regex\": ...}}", key));
}

void replace_in_piece(Piece& p, const Pattern& pattern, std::string_view content) {
  std::vector<std::pair<size_t, size_t>> hits;
  pattern.find_iter(p.text, hits);
  if (hits.empty()) return;
  const size_t zp = p.zero_prefix;
  ZeroTracker zero;
  auto keep = [&](size_t a, size_t b) {
    if (a < zp) zero.add(std::min(b, zp) - a, true);
    if (b > zp) zero.add(b - std::max(a, zp), false);
  };
  std::string out;
  out.reserve(p.text.size() + hits.size() * content.size());
  size_t prev = 0;
  for (const auto& [s, e] : hits) {
    out.append(p.text, prev, s - prev);
    keep(prev, s);
    out += content;
    // New characters inherit the alignment of the match's last byte (HF transform_range).
    zero.add(content.size(), e == 0 || e - 1 < zp);
    prev = e;
  }
  out.append(p.text, prev, std::string::npos);
  keep(prev, p.text.size());
  p.text = std::move(out);
  p.zero_prefix = zero.count();
}

void prepend_to_piece(Piece& p, std::string_view prefix) {
  if (p.text.empty()) return;
  p.text.insert(0, prefix);
  if (p.zero_prefix > 0) p.zero_prefix += static_cast<uint32_t>(prefix.size());
}

NormalizerChain NormalizerChain::parse(const Json& value, std::string_view where) {
  NormalizerChain chain;
  if (!value.is_null()) chain.add(value, std::string(where));
  return chain;
}

void NormalizerChain::add(const Json& v, const std::string& where) {
  const std::string type = jsonu::type_of(v, where);
  const std::string at = where + " (" + type + ")";
  using unicode::Form;
  if (type == "Sequence") {
    const Json* list = jsonu::field(v, "normalizers");
    if (list == nullptr || !list->is_array()) jsonu::fail(at, "'normalizers' must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      add((*list)[i], jsonu::index(jsonu::child(where, "normalizers"), i));
    }
  } else if (type == "NFC") {
    steps_.push_back(std::make_unique<UnicodeNormalizer>(Form::NFC));
  } else if (type == "NFD") {
    steps_.push_back(std::make_unique<UnicodeNormalizer>(Form::NFD));
  } else if (type == "NFKC") {
    steps_.push_back(std::make_unique<UnicodeNormalizer>(Form::NFKC));
  } else if (type == "NFKD") {
    steps_.push_back(std::make_unique<UnicodeNormalizer>(Form::NFKD));
  } else if (type == "Lowercase") {
    steps_.push_back(std::make_unique<Lowercase>());
  } else if (type == "Replace") {
    steps_.push_back(std::make_unique<Replace>(parse_pattern(v, "pattern", at),
                                               jsonu::get_string(v, "content", at)));
  } else if (type == "Prepend") {
    steps_.push_back(std::make_unique<Prepend>(jsonu::get_string(v, "prepend", at)));
  } else if (type == "Strip") {
    steps_.push_back(std::make_unique<Strip>(jsonu::get_bool(v, "strip_left", true, at),
                                             jsonu::get_bool(v, "strip_right", true, at)));
  } else if (type == "StripAccents") {
    steps_.push_back(std::make_unique<StripAccents>());
  } else if (type == "Nmt") {
    steps_.push_back(std::make_unique<Nmt>());
  } else if (type == "BertNormalizer") {
    const bool lower = jsonu::get_bool(v, "lowercase", true, at);
    const Json* sa = jsonu::field(v, "strip_accents");
    if (sa != nullptr && !sa->is_boolean()) jsonu::fail(at, "'strip_accents' must be a boolean");
    steps_.push_back(std::make_unique<BertNormalizer>(
        jsonu::get_bool(v, "clean_text", true, at),
        jsonu::get_bool(v, "handle_chinese_chars", true, at),
        sa != nullptr ? sa->get<bool>() : lower, lower));
  } else if (type == "ByteLevel") {
    steps_.push_back(std::make_unique<ByteLevelNormalizer>());
  } else if (type == "Precompiled") {
    const Json* map = jsonu::field(v, "precompiled_charsmap");
    if (map != nullptr && !(map->is_string() && map->get<std::string>().empty())) {
      jsonu::fail(at, "the Precompiled (SentencePiece charsmap) normalizer is not supported");
    }
  } else {
    jsonu::fail(at, "unsupported normalizer type");
  }
}

std::string NormalizerChain::normalize_text(std::string_view text) const {
  Piece p;
  p.text = std::string(text);
  p.at_origin = true;
  p.zero_prefix = text.empty() ? 0 : static_cast<uint32_t>(
      unicode::char_len(static_cast<unsigned char>(text[0])));
  normalize(p);
  return std::move(p.text);
}

}  // namespace ollmlx::tok
