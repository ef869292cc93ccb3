// PCRE2-backed patterns with Oniguruma semantics (see regex.h). Each thread keeps its own match
// data and JIT stack, so a compiled pattern can be shared by concurrent encode() calls.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ollmlx::tok {

struct Pattern::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Oniguruma's Unicode classes (doc/RE): \s = 0009-000D, 0085, Z*; \w = L, M, Nd, Pc.
constexpr const char* kSpaceSet = "\\t-\\r\\x{85}\\p{Z}";
constexpr const char* kWordSet = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

struct ThreadState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context != nullptr && stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  if (state.data == nullptr) throw_error("tokenizer", "out of memory for regex match data");
  return state;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return std::string(reinterpret_cast<const char*>(buf));
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Copies the UTF-8 character at p[i] to out; returns its length.
size_t copy_char(std::string_view p, size_t i, std::string& out) {
  const size_t n = std::min(unicode::char_len(static_cast<unsigned char>(p[i])), p.size() - i);
  out.append(p.substr(i, n));
  return n;
}

[[noreturn]] void unsupported(std::string_view pattern, std::string_view what) {
  throw_error("tokenizer", "regex '{}': {} is not supported", pattern, what);
}

}  // namespace

std::string translate_onig(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 32);
  bool in_class = false;
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) throw_error("tokenizer", "regex '{}': trailing backslash", p);
      const char e = p[i + 1];
      if (e == 'u' && i + 6 <= p.size() && is_hex(p[i + 2]) &&
          is_hex(p[i + 3]) && is_hex(p[i + 4]) && is_hex(p[i + 5])) {
        out += "\\x{";
        out.append(p.substr(i + 2, 4));
        out += '}';
        i += 6;
        continue;
      }
      const char* rep = nullptr;
      std::string tmp;
      if (!in_class) {
        switch (e) {
          case 's': tmp = std::string("[") + kSpaceSet + "]"; break;
          case 'S': tmp = std::string("[^") + kSpaceSet + "]"; break;
          case 'w': tmp = std::string("[") + kWordSet + "]"; break;
          case 'W': tmp = std::string("[^") + kWordSet + "]"; break;
          case 'd': rep = "\\p{Nd}"; break;
          case 'D': rep = "\\P{Nd}"; break;
          case 'h': rep = "[0-9a-fA-F]"; break;
          case 'H': rep = "[^0-9a-fA-F]"; break;
          default: break;
        }
      } else {
        switch (e) {
          case 's': rep = kSpaceSet; break;
          case 'w': rep = kWordSet; break;
          case 'd': rep = "\\p{Nd}"; break;
          case 'D': rep = "\\P{Nd}"; break;
          case 'h': rep = "0-9a-fA-F"; break;
          case 'H': unsupported(p, "\\H inside a character class");
          default: break;  // \S and \W keep PCRE2's (nearly identical) meaning
        }
      }
      if (rep != nullptr) {
        out += rep;
      } else if (!tmp.empty()) {
        out += tmp;
      } else {
        out += '\\';
        i += 1 + copy_char(p, i + 1, out);
        continue;
      }
      i += 2;
      continue;
    }
    if (!in_class) {
      if (c == '[') {
        in_class = true;
        out += '[';
        ++i;
        if (i < p.size() && p[i] == '^') {
          out += '^';
          ++i;
        }
        if (i < p.size() && p[i] == ']') {  // a leading ']' is a literal
          out += "\\]";
          ++i;
        }
        continue;
      }
      if (c == '(' && i + 1 < p.size() && p[i + 1] == '?') {
        // Inline options: Ruby's (?m) is PCRE2's (?s).
        size_t j = i + 2;
        while (j < p.size() && (p[j] == 'i' || p[j] == 'm' || p[j] == 'x' || p[j] == '-')) ++j;
        if (j > i + 2 && j < p.size() && (p[j] == ':' || p[j] == ')')) {
          out += "(?";
          for (size_t k = i + 2; k < j; ++k) out += p[k] == 'm' ? 's' : p[k];
          i = j;
          continue;
        }
        out += "(?";
        i += 2;
        continue;
      }
      i += copy_char(p, i, out);
      continue;
    }
    // Inside a character class.
    if (c == ']') {
      in_class = false;
      out += ']';
      ++i;
      continue;
    }
    if (c == '[') {
      if (i + 1 < p.size() && p[i + 1] == ':') {  // POSIX bracket [:alpha:]
        const size_t close = p.find(":]", i + 2);
        if (close == std::string_view::npos) unsupported(p, "an unterminated POSIX class");
        out.append(p.substr(i, close + 2 - i));
        i = close + 2;
        continue;
      }
      unsupported(p, "a nested character class");
    }
    if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
      unsupported(p, "a character class intersection (&&)");
    }
    i += copy_char(p, i, out);
  }
  return out;
}

Pattern Pattern::regex(std::string_view onig_pattern) {
  Pattern result = pcre2(translate_onig(onig_pattern));
  result.source_ = std::string(onig_pattern);
  return result;
}

Pattern Pattern::pcre2(std::string_view translated) {
  Pattern result;
  result.source_ = std::string(translated);
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()),
                                   translated.size(), PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE,
                                   &err, &offset, nullptr);
  if (code == nullptr) {
    throw_error("tokenizer", "regex '{}' does not compile: {} at offset {}", translated,
                pcre2_message(err), offset);
  }
  auto holder = std::make_shared<Code>();
  holder->code = code;
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
  result.code_ = std::move(holder);
  return result;
}

Pattern Pattern::literal(std::string_view text) {
  Pattern result;
  result.source_ = std::string(text);
  result.literal_ = std::string(text);
  if (text.empty()) {
    // The escaped empty string is the empty regex, which matches everywhere.
    result = regex("");
    result.source_.clear();
  }
  return result;
}

void Pattern::find_iter(std::string_view text,
                        std::vector<std::pair<size_t, size_t>>& out) const {
  if (!code_) {
    const size_t n = literal_.size();
    size_t pos = 0;
    while (pos <= text.size()) {
      const size_t hit = text.find(literal_, pos);
      if (hit == std::string_view::npos) break;
      out.emplace_back(hit, hit + n);
      pos = hit + n;
    }
    return;
  }
  ThreadState& ts = thread_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (last_end <= text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK,
                               ts.data, ts.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      throw_error("tokenizer", "regex '{}' failed on input: {}", source_, pcre2_message(rc));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.data);
    size_t s = ov[0], e = ov[1];
    if (e > text.size()) e = text.size();
    if (s > e) s = e;  // \K can report a start after the end
    if (s == e && have_last && last_match_end == e) {
      if (last_end >= text.size()) break;
      last_end += unicode::char_len(static_cast<unsigned char>(text[last_end]));
      continue;
    }
    last_end = e;
    have_last = true;
    last_match_end = e;
    out.emplace_back(s, e);
  }
}

void Pattern::find_matches(std::string_view text, std::vector<Match>& out, bool invert) const {
  out.clear();
  if (text.empty()) {
    out.push_back({0, 0, invert});
    return;
  }
  std::vector<std::pair<size_t, size_t>> hits;
  find_iter(text, hits);
  size_t prev = 0;
  for (const auto& [s, e] : hits) {
    if (prev != s) out.push_back({prev, s, invert});
    out.push_back({s, e, !invert});
    prev = e;
  }
  if (prev != text.size()) out.push_back({prev, text.size(), invert});
}

bool ends_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  size_t len = 0;
  return unicode::is_word_char(unicode::decode(s, i, &len));
}

bool starts_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  size_t len = 0;
  return unicode::is_word_char(unicode::decode(s, 0, &len));
}

}  // namespace ollmlx::tok
