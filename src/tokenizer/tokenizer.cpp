// Tokenizer construction from tokenizer.json and the encode/decode pipelines, in HF's order:
// added tokens in raw text -> normalizer -> added tokens in normalized text -> pre-tokenizers ->
// model -> post-processor; decode: id -> piece -> decoder chain.
#include "tokenizer/tokenizer.h"

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ollmlx::tok {
namespace {

using jsonu::Json;

const Json& member(const Json& j, const char* key) {
  static const Json null_value;
  const auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

std::vector<AddedToken> parse_added_tokens(const Json& j) {
  std::vector<AddedToken> out;
  const Json& list = member(j, "added_tokens");
  if (list.is_null()) return out;
  const std::string where = "tokenizer.json: added_tokens";
  if (!list.is_array()) jsonu::fail(where, "must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = jsonu::index(where, i);
    const Json& t = list[i];
    jsonu::require_object(t, at);
    AddedToken a;
    a.content = jsonu::get_string(t, "content", at);
    const Json* id = jsonu::field(t, "id");
    if (id == nullptr) jsonu::fail(at, "missing 'id'");
    a.id = jsonu::as_id(*id, at);
    a.special = jsonu::get_bool(t, "special", false, at);
    a.single_word = jsonu::get_bool(t, "single_word", false, at);
    a.lstrip = jsonu::get_bool(t, "lstrip", false, at);
    a.rstrip = jsonu::get_bool(t, "rstrip", false, at);
    a.normalized = jsonu::get_bool(t, "normalized", !a.special, at);
    out.push_back(std::move(a));
  }
  return out;
}

void build_id_table(Tokenizer::Impl& impl) {
  int64_t max_id = -1;
  impl.model->vocab().for_each(
      [&](std::string_view, int32_t id) { max_id = std::max<int64_t>(max_id, id); });
  for (const auto& [id, token] : impl.added.by_id()) max_id = std::max<int64_t>(max_id, id);
  const size_t count = impl.model->vocab().size() + impl.added.by_id().size();
  if (max_id >= static_cast<int64_t>(2 * count + 65536)) {
    jsonu::fail("tokenizer.json", fmt::format("vocabulary too sparse: largest id {} for {} tokens",
                                              max_id, count));
  }
  const auto n = static_cast<size_t>(max_id + 1);
  impl.pieces.assign(n, std::string());
  impl.flags.assign(n, 0);
  impl.model->vocab().for_each([&](std::string_view token, int32_t id) {
    const auto i = static_cast<size_t>(id);
    if (impl.flags[i] == 0 || token < impl.pieces[i]) impl.pieces[i] = std::string(token);
    impl.flags[i] = Tokenizer::Impl::kKnown;
  });
  // Added tokens decode as their content, or as its normalized form for normalized tokens
  // (HF keeps that form so that the decoder can invert the normalization).
  for (const auto& [id, token] : impl.added.by_id()) {
    std::string piece = token.content;
    if (token.normalized && !impl.normalizer.empty()) {
      piece = impl.normalizer.normalize_text(token.content);
    }
    impl.pieces[static_cast<size_t>(id)] = std::move(piece);
    impl.flags[static_cast<size_t>(id)] = Tokenizer::Impl::kKnown;
  }
  for (size_t i = 0; i < n; ++i) {
    if (impl.flags[i] != 0 && impl.added.is_special(impl.pieces[i])) {
      impl.flags[i] |= Tokenizer::Impl::kSpecial;
    }
  }
}

// Runs pre-tokenizer steps [level, end) over `piece`, then the model, depth first (each step
// treats pieces independently, so this equals HF's step-by-step order).
struct Encoder {
  const Tokenizer::Impl& impl;
  std::vector<int32_t>& ids;
  WordCache cache;
  std::vector<std::vector<Piece>> scratch;

  void run(size_t level, Piece&& piece) {
    if (level == impl.pre_tokenizer.size()) {
      impl.model->tokenize(piece.text, ids, &cache);
      return;
    }
    std::vector<Piece>& out = scratch[level];
    out.clear();
    impl.pre_tokenizer.step(level).split(std::move(piece), out);
    for (Piece& p : out) run(level + 1, std::move(p));
  }
};

}  // namespace

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_json(std::string_view text) {
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  Impl& impl = *tok->impl_;
  try {
    const Json j = Json::parse(text.begin(), text.end());
    if (!j.is_object()) jsonu::fail("tokenizer.json", "top level must be an object");
    impl.normalizer = NormalizerChain::parse(member(j, "normalizer"), "tokenizer.json: normalizer");
    impl.pre_tokenizer =
        PreTokenizerChain::parse(member(j, "pre_tokenizer"), "tokenizer.json: pre_tokenizer");
    if (member(j, "model").is_null()) jsonu::fail("tokenizer.json", "missing 'model'");
    impl.model = parse_model(member(j, "model"), "tokenizer.json: model");
    impl.post_processor =
        PostProcessorChain::parse(member(j, "post_processor"), "tokenizer.json: post_processor");
    impl.decoder = DecoderChain::parse(member(j, "decoder"), "tokenizer.json: decoder");
    impl.warnings = impl.added.build(parse_added_tokens(j), *impl.model, impl.normalizer);
    build_id_table(impl);
  } catch (const nlohmann::json::exception& e) {
    throw_error("tokenizer", "tokenizer.json: {}", e.what());
  }
  return tok;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens,
                                       bool parse_special) const {
  const Impl& impl = *impl_;
  std::string owned;
  if (!unicode::is_valid_utf8(text)) {
    owned = unicode::to_valid_utf8(text);
    text = owned;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  Encoder enc{impl, ids, {}, std::vector<std::vector<Piece>>(impl.pre_tokenizer.size())};
  std::vector<Span> raw, normalized;
  impl.added.split_raw(text, parse_special, raw);
  for (const Span& s : raw) {
    if (s.end <= s.start) continue;
    if (s.id >= 0) {
      ids.push_back(s.id);
      continue;
    }
    Piece piece;
    piece.text.assign(text.substr(s.start, s.end - s.start));
    piece.at_origin = s.start == 0;
    piece.zero_prefix = piece.at_origin ? static_cast<uint32_t>(unicode::char_len(
                                              static_cast<unsigned char>(piece.text[0])))
                                        : 0;
    impl.normalizer.normalize(piece);
    impl.added.split_normalized(piece.text, parse_special, normalized);
    for (const Span& t : normalized) {
      if (t.end <= t.start) continue;
      if (t.id >= 0) {
        ids.push_back(t.id);
      } else {
        enc.run(0, piece.slice(t.start, t.end));
      }
    }
  }
  impl.post_processor.process(ids, add_special_tokens);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= impl.flags.size()) continue;
    const uint8_t f = impl.flags[static_cast<size_t>(id)];
    if (f == 0 || (skip_special_tokens && (f & Impl::kSpecial) != 0)) continue;
    tokens.push_back(impl.pieces[static_cast<size_t>(id)]);
  }
  return impl.decoder.decode(std::move(tokens));
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->pieces.size()) return {};
  return impl_->pieces[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->pieces.size()); }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->flags.size() &&
         (impl_->flags[static_cast<size_t>(id)] & Impl::kSpecial) != 0;
}

const std::vector<int32_t>& Tokenizer::eos_ids() const { return impl_->eos_ids; }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::string Tokenizer::bos_token() const { return impl_->bos_token; }
std::string Tokenizer::eos_token() const { return impl_->eos_token; }
std::string Tokenizer::pad_token() const { return impl_->pad_token; }
std::string Tokenizer::unk_token() const { return impl_->unk_token; }
std::optional<bool> Tokenizer::add_bos_token() const { return impl_->add_bos_token; }
std::optional<bool> Tokenizer::add_eos_token() const { return impl_->add_eos_token; }
const nlohmann::json& Tokenizer::tokenizer_config() const { return impl_->config; }
const std::vector<std::string>& Tokenizer::warnings() const { return impl_->warnings; }

}  // namespace ollmlx::tok
