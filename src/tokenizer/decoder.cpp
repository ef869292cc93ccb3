// The decoders of tokenizer.json (see decoder.h), each a transcription of HF's decode_chain.
#include "tokenizer/decoder.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace ollmlx::tok {
namespace {

using jsonu::Json;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Byte-level characters back to bytes; a token with a character outside the alphabet keeps its
// own bytes. The concatenation is decoded lossily into one string.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const size_t mark = bytes.size();
      bool ok = true;
      size_t i = 0;
      while (i < t.size()) {
        size_t len = 0;
        const int b = byte_level::byte_of(unicode::decode(t, i, &len));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
        i += len;
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, unicode::to_valid_utf8(bytes));
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string rep, bool prepend) : rep_(std::move(rep)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], rep_, i == 0 && prepend_ ? "" : " ");
    }
  }

 private:
  std::string rep_;
  bool prepend_;  // prepend_scheme != never: the first token loses its replacement characters
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<Match> m;
    for (std::string& t : tokens) {
      pattern_.find_matches(t, m);
      std::string out;
      for (const Match& x : m) {
        if (x.is_match) {
          out += content_;
        } else {
          out.append(t, x.start, x.end - x.start);
        }
      }
      t = std::move(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// <0xHH> tokens become bytes; each run is kept if valid UTF-8, else one U+FFFD per byte.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    auto flush = [&] {
      if (run.empty()) return;
      if (unicode::is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex(t[3], t[4]);
      if (byte >= 0) {
        run.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  // Rust u8::from_str_radix(s, 16) on two characters (a leading '+' is accepted).
  static int parse_hex(char a, char b) {
    auto digit = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (a == '+') return digit(b);
    const int hi = digit(a), lo = digit(b);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<size_t> offs;  // char start offsets
      for (size_t i = 0; i < t.size(); i += unicode::char_len(static_cast<unsigned char>(t[i]))) {
        offs.push_back(i);
      }
      const size_t n = offs.size();
      auto char_at = [&](size_t k) {
        const size_t end = k + 1 < n ? offs[k + 1] : t.size();
        return std::string_view(t).substr(offs[k], end - offs[k]);
      };
      size_t start_cut = 0;
      for (size_t k = 0; k < std::min(start_, n); ++k) {
        if (char_at(k) != content_) break;
        start_cut = k + 1;
      }
      size_t stop_cut = n;
      for (size_t k = 0; k < std::min(stop_, n - start_cut); ++k) {
        const size_t index = n - k - 1;
        if (char_at(index) != content_) break;
        stop_cut = index;
      }
      const size_t b = start_cut < n ? offs[start_cut] : t.size();
      const size_t e = stop_cut < n ? offs[stop_cut] : t.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
  }

 private:
  std::string suffix_;
};

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) {
          t.erase(0, prefix_.size());
        } else {
          t = " " + t;
        }
      }
      if (cleanup_) {
        static const char* const kPairs[][2] = {
            {" .", "."},     {" ?", "?"},     {" !", "!"},         {" ,", ","},
            {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"},       {" do not", " don't"},
            {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
        for (const auto& p : kPairs) replace_all(t, p[0], p[1]);
      }
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

}  // namespace

DecoderChain DecoderChain::parse(const Json& value, std::string_view where) {
  DecoderChain chain;
  if (!value.is_null()) {
    chain.present_ = true;
    chain.add(value, std::string(where));
  }
  return chain;
}

void DecoderChain::add(const Json& v, const std::string& where) {
  const std::string type = jsonu::type_of(v, where);
  const std::string at = where + " (" + type + ")";
  if (type == "Sequence") {
    const Json* list = jsonu::field(v, "decoders");
    if (list == nullptr || !list->is_array()) jsonu::fail(at, "'decoders' must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      add((*list)[i], jsonu::index(jsonu::child(where, "decoders"), i));
    }
  } else if (type == "ByteLevel") {
    steps_.push_back(std::make_unique<ByteLevelDecoder>());
  } else if (type == "Metaspace") {
    bool prepend = true;
    if (auto s = jsonu::get_opt_string(v, "prepend_scheme", at)) {
      if (*s != "always" && *s != "first" && *s != "never") {
        jsonu::fail(at, fmt::format("unknown prepend_scheme '{}'", *s));
      }
      prepend = *s != "never";
    } else {
      prepend = jsonu::get_bool(v, "add_prefix_space", true, at);
    }
    steps_.push_back(
        std::make_unique<MetaspaceDecoder>(jsonu::get_char(v, "replacement", at), prepend));
  } else if (type == "Replace") {
    steps_.push_back(std::make_unique<ReplaceDecoder>(parse_pattern(v, "pattern", at),
                                                      jsonu::get_string(v, "content", at)));
  } else if (type == "ByteFallback") {
    byte_fallback_ = true;
    steps_.push_back(std::make_unique<ByteFallbackDecoder>());
  } else if (type == "Fuse") {
    steps_.push_back(std::make_unique<FuseDecoder>());
  } else if (type == "Strip") {
    steps_.push_back(std::make_unique<StripDecoder>(jsonu::get_char(v, "content", at),
                                                    jsonu::get_uint_or(v, "start", 0, at),
                                                    jsonu::get_uint_or(v, "stop", 0, at)));
  } else if (type == "BPEDecoder") {
    steps_.push_back(std::make_unique<BpeDecoder>(
        jsonu::get_opt_string(v, "suffix", at).value_or("</w>")));
  } else if (type == "WordPiece") {
    steps_.push_back(std::make_unique<WordPieceDecoder>(
        jsonu::get_opt_string(v, "prefix", at).value_or("##"),
        jsonu::get_bool(v, "cleanup", true, at)));
  } else {
    jsonu::fail(at, "unsupported decoder type");
  }
}

std::string DecoderChain::decode(std::vector<std::string> tokens) const {
  std::string out;
  if (!present_) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  for (const auto& step : steps_) step->decode_chain(tokens);
  for (const std::string& t : tokens) out += t;
  return out;
}

}  // namespace ollmlx::tok
