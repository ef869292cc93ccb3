// StreamDecoder: incremental decoding over a sliding window of ids (see stream_decoder.h).
#include "tokenizer/stream_decoder.h"

#include <algorithm>

#include "tokenizer/tokenizer_impl.h"

namespace ollmlx::tok {
namespace {

bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

// A ByteFallback byte token: "<0xHH>".
bool is_byte_token(const std::string& piece) {
  return piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>';
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special_tokens)
    : tok_(tok), skip_special_(skip_special_tokens),
      byte_runs_(tok.impl_->decoder.has_byte_fallback()) {
  // A sentinel must decode to plain ASCII on its own and stay a prefix when followed by text.
  for (const char* candidate : {"a", "e", "t", "x", "A", "0", "1", "\xE2\x96\x81" "a"}) {
    const auto id = tok.token_to_id(candidate);
    if (!id || tok.is_special(*id)) continue;
    const std::string one = tok.decode({*id});
    if (one.empty() || one.size() > 4) continue;
    bool plain = true;
    for (unsigned char c : one) {
      plain = plain && (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9'));
    }
    if (!plain || tok.decode({*id, *id}).compare(0, one.size(), one) != 0) continue;
    sentinel_ = *id;
    sentinel_text_ = one;
    break;
  }
}

std::string StreamDecoder::decode_window() const {
  if (!mid_sequence_ || sentinel_ < 0) return tok_.decode(ids_, skip_special_);
  std::vector<int32_t> with(1, sentinel_);
  with.insert(with.end(), ids_.begin(), ids_.end());
  std::string text = tok_.decode(with, skip_special_);
  if (text.compare(0, sentinel_text_.size(), sentinel_text_) != 0) {
    return tok_.decode(ids_, skip_special_);
  }
  return text.substr(sentinel_text_.size());
}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  // Ids that decode() drops (unknown, or special when skipping) do not end a byte run.
  const auto& impl = *tok_.impl_;
  const auto index = static_cast<size_t>(id);
  const uint8_t flags = id >= 0 && index < impl.flags.size() ? impl.flags[index] : 0;
  const bool kept = flags != 0 && !(skip_special_ && (flags & Tokenizer::Impl::kSpecial) != 0);
  if (kept) in_byte_run_ = byte_runs_ && is_byte_token(impl.pieces[index]);
  if (in_byte_run_) return {};
  std::string text = decode_window();
  if (text.size() <= prefix_.size() || ends_with_replacement(text)) return {};
  if (text.compare(0, prefix_.size(), prefix_) != 0) return {};  // not expected; flush() settles
  std::string out = text.substr(prefix_.size());
  // Everything after the old context becomes the new context.
  if (context_ > 0) mid_sequence_ = true;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(context_));
  context_ = ids_.size();
  prefix_ = decode_window();
  return out;
}

std::string StreamDecoder::flush() {
  const std::string text = decode_window();
  size_t k = 0;
  if (text.compare(0, prefix_.size(), prefix_) == 0) {
    k = prefix_.size();
  } else {  // emit what follows the longest common prefix
    while (k < text.size() && k < prefix_.size() && text[k] == prefix_[k]) ++k;
    while (k > 0 && k < text.size() && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
  }
  std::string out = text.substr(std::min(k, text.size()));
  reset();
  return out;
}

void StreamDecoder::reset() {
  ids_.clear();
  context_ = 0;
  prefix_.clear();
  mid_sequence_ = false;
  in_byte_run_ = false;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  held_.append(text);
  // The earliest complete stop string wins.
  size_t best = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t at = held_.find(s);
    if (at != std::string::npos && at < best) {
      best = at;
      matched_ = s;
    }
  }
  if (best != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, best);
    held_.clear();
    return out;
  }
  // Hold back the longest suffix that is a prefix of some stop string.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    const size_t max = std::min(s.size() - 1, held_.size());
    for (size_t k = max; k > keep; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() {
  if (stopped_) return {};
  std::string out = std::move(held_);
  held_.clear();
  return out;
}

}  // namespace ollmlx::tok
