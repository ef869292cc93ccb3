#include "cli/display.h"

#include <fmt/format.h>

#include "api/utf8.h"
#include "cli/format.h"

namespace ollmlx::cli {

ResponseDisplay::ResponseDisplay(FILE* out, bool word_wrap, int term_width)
    : out_(out), wrap_(word_wrap), width_(term_width) {}

void ResponseDisplay::reset() {
  line_length_ = 0;
  word_.clear();
}

void ResponseDisplay::write(const std::string& content) {
  text_ += content;
  if (!(wrap_ && width_ >= 10)) {
    std::fputs((word_ + content).c_str(), out_);
    word_.clear();
    std::fflush(out_);
    return;
  }
  std::string_view s = content;
  std::string out;
  while (!s.empty()) {
    const api::Rune r = api::utf8_decode(s);
    const std::string ch(s.substr(0, r.size));
    s.remove_prefix(r.size);
    const int w = display_width(ch);
    if (line_length_ + 1 > width_ - 5) {
      if (display_width(word_) > width_ - 10) {
        // A word too long to move: let it run on.
        out += ch;
        word_.clear();
        line_length_ = 0;
        continue;
      }
      // Move the word being written to the next line.
      const int a = display_width(word_);
      if (a > 0) out += fmt::format("\x1b[{}D", a);
      out += "\x1b[K\n";
      out += word_ + ch;
      line_length_ = a + w;
      continue;
    }
    out += ch;
    line_length_ += w;
    if (w >= 2) {
      word_.clear();
      continue;
    }
    if (ch == " " || ch == "\t") {
      word_.clear();
    } else if (ch == "\n" || ch == "\r") {
      line_length_ = 0;
      word_.clear();
    } else {
      word_ += ch;
    }
  }
  std::fputs(out.c_str(), out_);
  std::fflush(out_);
}

std::string metrics_summary(const nlohmann::ordered_json& f) {
  const auto num = [&](const char* key) -> int64_t {
    if (!f.is_object() || !f.contains(key) || !f[key].is_number()) return 0;
    return f[key].get<int64_t>();
  };
  std::string out;
  const int64_t total = num("total_duration"), load = num("load_duration"),
                pcount = num("prompt_eval_count"), pdur = num("prompt_eval_duration"),
                count = num("eval_count"), dur = num("eval_duration");
  if (total > 0) out += "total duration:       " + go_duration(total) + "\n";
  if (load > 0) out += "load duration:        " + go_duration(load) + "\n";
  if (pcount > 0) out += fmt::format("prompt eval count:    {} token(s)\n", pcount);
  if (pdur > 0) {
    out += "prompt eval duration: " + go_duration(pdur) + "\n";
    out += fmt::format("prompt eval rate:     {:.2f} tokens/s\n", static_cast<double>(pcount) / (pdur / 1e9));
  }
  if (count > 0) out += fmt::format("eval count:           {} token(s)\n", count);
  if (dur > 0) {
    out += "eval duration:        " + go_duration(dur) + "\n";
    out += fmt::format("eval rate:            {:.2f} tokens/s\n", static_cast<double>(count) / (dur / 1e9));
  }
  return out;
}

}  // namespace ollmlx::cli
