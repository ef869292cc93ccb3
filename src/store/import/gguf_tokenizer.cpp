// tokenizer.json / tokenizer_config.json from GGUF tokenizer metadata, as tools/gguf_to_mlx.py
// builds them with the `tokenizers` library (reference §6): a byte-level BPE model over
// tokenizer.ggml.tokens/merges, the pre-tokenizer llama.cpp uses for tokenizer.ggml.pre, CONTROL
// tokens as special added tokens and USER_DEFINED ones as plain added tokens, BOS/EOS added by
// a TemplateProcessing post-processor when add_bos/add_eos say so. The JSON is laid out as
// `tokenizers` serializes it (key order, vocabulary by id), so the file is byte-identical.
// SentencePiece vocabularies ("llama") share all of this except the model, normalizer and
// decoder, which gguf_spm.h builds (the Python prototype does not convert them).
#include <map>
#include <set>
#include <unordered_map>

#include "store/import/gguf_convert.h"
#include "store/import/gguf_meta.h"
#include "store/import/gguf_spm.h"
#include "tokenizer/unicode.h"

namespace ollmlx::gguf {
namespace {

using OJson = nlohmann::ordered_json;

// llama.cpp pre-tokenizer names (llama-vocab.cpp) and the regexes of reference §6.3.
constexpr const char* kRegexLlama3 =
    R"RX((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)RX";
constexpr const char* kRegexQwen2 =
    R"RX((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)RX";
constexpr const char* kRegexGpt2 = R"RX('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))RX";

const std::set<std::string_view> kPreLlama3 = {"llama3", "llama-v3", "llama-bpe", "falcon3",
                                                "falcon-h1", "pixtral", "midm-2.0", "lfm2"};
const std::set<std::string_view> kPreQwen2 = {"qwen2", "deepseek-r1-qwen", "kormo", "megrez"};
const std::set<std::string_view> kPreSmollm = {"smollm", "starcoder", "refact", "command-r",
                                                "codeshell", "exaone", "minerva-7b"};
const std::set<std::string_view> kPreGpt2 = {"gpt-2", "phi-2", "jina-es", "jina-de", "mpt", "olmo", "jais"};

bool known_pre(std::string_view pre) {
  return kPreLlama3.count(pre) || kPreQwen2.count(pre) || kPreSmollm.count(pre) ||
         kPreGpt2.count(pre) || pre == "default";
}

OJson byte_level(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  return OJson{{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space},
               {"trim_offsets", trim_offsets}, {"use_regex", use_regex}};
}

OJson split(const char* regex) {
  return OJson{{"type", "Split"}, {"pattern", OJson{{"Regex", regex}}}, {"behavior", "Isolated"},
               {"invert", false}};
}

OJson sequence(std::initializer_list<OJson> items) {
  OJson arr = OJson::array();
  for (const OJson& i : items) arr.push_back(i);
  return OJson{{"type", "Sequence"}, {"pretokenizers", arr}};
}

OJson pre_tokenizer(std::string_view pre) {
  if (kPreSmollm.count(pre))
    return sequence({OJson{{"type", "Digits"}, {"individual_digits", true}}, byte_level(false, true, true)});
  if (kPreGpt2.count(pre)) return byte_level(false, true, true);
  if (kPreLlama3.count(pre)) return sequence({split(kRegexLlama3), byte_level(false, true, false)});
  if (kPreQwen2.count(pre)) return sequence({split(kRegexQwen2), byte_level(false, false, false)});
  // "default"
  return sequence({split(R"RX([\p{P}\$\+<=>\^~\|]+)RX"), split(kRegexGpt2), split(R"RX(\p{N}+)RX"),
                   split("[0-9][0-9][0-9]"), byte_level(false, true, false)});
}

// A TemplateProcessing piece list from a template like "<bos> $A:0 <eos>".
OJson pieces(const std::vector<std::pair<std::string, int>>& items) {
  OJson arr = OJson::array();
  for (const auto& [id, type_id] : items) {
    if (id == "$A" || id == "$B")
      arr.push_back(OJson{{"Sequence", OJson{{"id", id.substr(1)}, {"type_id", type_id}}}});
    else
      arr.push_back(OJson{{"SpecialToken", OJson{{"id", id}, {"type_id", type_id}}}});
  }
  return arr;
}

std::string dump(const OJson& j, int indent) {
  return j.dump(indent, ' ', false, OJson::error_handler_t::replace);
}

}  // namespace

std::string unsupported_tokenizer_reason(const Header& h) {
  const Value* model = h.find("tokenizer.ggml.model");
  if (!model) return "missing required GGUF key 'tokenizer.ggml.model'";
  if (!model->is_string() || (model->s != "gpt2" && model->s != "llama"))
    return fmt::format("tokenizer.ggml.model '{}' is not supported yet (supported: byte-level BPE 'gpt2' and "
                       "SentencePiece BPE 'llama' tokenizers)",
                       model->is_string() ? tok::unicode::to_valid_utf8(model->s.substr(0, 64)) : "?");
  if (model->s == "llama") {
    // SentencePiece's whitespace collapsing has no tokenizer.json form.
    if (const Value* v = h.find("tokenizer.ggml.remove_extra_whitespaces"); v && !v->is_array() && v->f != 0)
      return "tokenizer.ggml.remove_extra_whitespaces is not supported";
    return "";
  }
  if (const Value* pre = h.find("tokenizer.ggml.pre"); pre && (!pre->is_string() || !known_pre(pre->s)))
    return fmt::format("unsupported tokenizer.ggml.pre '{}' (llama.cpp would refuse it too)",
                       pre->is_string() ? tok::unicode::to_valid_utf8(pre->s) : "?");
  return "";
}

TokenizerFiles build_tokenizer_files(const Header& header, const std::string& file,
                                     const Value* context_length) {
  const Meta meta(header, file);
  meta.req("tokenizer.ggml.model");
  if (const std::string why = unsupported_tokenizer_reason(header); !why.empty()) meta.fail("{}", why);
  const bool spm = meta.req("tokenizer.ggml.model").s == "llama";
  const Value& tokens_v = meta.req("tokenizer.ggml.tokens");
  if (!tokens_v.is_string_array()) meta.fail("tokenizer.ggml.tokens must be an array of strings");
  std::vector<std::string_view> tokens = tokens_v.strings;
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) meta.fail("too many tokens");
  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  for (int64_t i = 0; i < n_tokens; ++i)
    if (!tok::unicode::is_valid_utf8(tokens[i])) meta.fail("token {} is not valid UTF-8", i);
  std::vector<int64_t> types(tokens.size(), 1);
  if (const Value* tv = meta.get("tokenizer.ggml.token_type")) {
    if (!tv->is_array() || tv->is_string_array()) meta.fail("tokenizer.ggml.token_type must be a numeric array");
    // Tokens without a type (a short list) are NORMAL, as zip() in the Python leaves them.
    for (size_t i = 0; i < types.size(); ++i)
      types[i] = i < tv->numbers.size() ? static_cast<int64_t>(tv->numbers[i]) : 1;
  }
  std::string pre = "default";
  if (auto p = meta.opt_string("tokenizer.ggml.pre"); p && !spm) pre = std::string(*p);
  const Value* merges_v = meta.get("tokenizer.ggml.merges");
  if (!spm && !merges_v) meta.fail("gpt2 tokenizer without tokenizer.ggml.merges");
  if (!spm && !merges_v->is_string_array()) meta.fail("tokenizer.ggml.merges must be an array of strings");
  std::vector<std::string> respelled;  // SentencePiece USER_DEFINED tokens with their "▁" back
  if (spm) {
    respelled.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i)
      if (types[i] == 4 && tokens[i].find(' ') != std::string_view::npos) {
        respelled.push_back(spm_respell_user_defined(tokens[i]));
        tokens[i] = respelled.back();
      }
  }

  // Vocabulary: duplicates keep the first id (the later ones leave holes, as `tokenizers` does).
  std::unordered_map<std::string_view, int64_t> vocab;
  vocab.reserve(tokens.size());
  std::vector<bool> in_vocab(tokens.size(), false);
  for (int64_t i = 0; i < n_tokens; ++i) in_vocab[i] = vocab.emplace(tokens[i], i).second;

  OJson merges = OJson::array();
  std::string joined;
  if (spm)
    for (const auto& [l, r] : spm_merges(meta, tokens, types, vocab))
      merges.push_back(OJson::array({std::string(tokens[l]), std::string(tokens[r])}));
  for (size_t m = 0; !spm && m < merges_v->strings.size(); ++m) {
    const std::string_view s = merges_v->strings[m];
    const size_t sp = s.find(' ');
    if (sp == std::string_view::npos) meta.fail("malformed merge {} '{}'", m, tok::unicode::to_valid_utf8(s));
    const std::string_view a = s.substr(0, sp), b = s.substr(sp + 1);
    joined.assign(a);
    joined.append(b);
    if (!vocab.count(a) || !vocab.count(b) || !vocab.count(joined))
      meta.fail("merge {} '{}' uses a token that is not in the vocabulary",
                m, tok::unicode::to_valid_utf8(s));
    merges.push_back(OJson::array({std::string(a), std::string(b)}));
  }

  auto tid = [&](const char* key) -> std::optional<int64_t> {
    const Value* v = meta.get(key);
    if (!v) return std::nullopt;
    const int64_t id = meta.as_int(key, *v);
    if (id < 0 || id >= n_tokens) return std::nullopt;
    return id;
  };
  const auto bos_id = tid("tokenizer.ggml.bos_token_id"), eos_id = tid("tokenizer.ggml.eos_token_id");
  const auto unk_id = tid("tokenizer.ggml.unknown_token_id"), pad_id = tid("tokenizer.ggml.padding_token_id");
  const auto eot_id = tid("tokenizer.ggml.eot_token_id"), eom_id = tid("tokenizer.ggml.eom_token_id");
  // llama.cpp's defaults: SentencePiece adds BOS; byte-level BPE only for some pre-tokenizers.
  bool add_bos = spm || kPreLlama3.count(pre) || pre == "tekken" || pre == "chameleon";
  if (const Value* v = meta.get("tokenizer.ggml.add_bos_token")) add_bos = Meta::truthy(*v);
  bool add_eos = false;
  if (const Value* v = meta.get("tokenizer.ggml.add_eos_token")) add_eos = Meta::truthy(*v);

  // Added tokens: CONTROL (3) special, USER_DEFINED (4) plain; each must keep its own id.
  struct Added {
    int64_t id;
    bool special;
  };
  std::vector<Added> added;
  for (int64_t i = 0; i < n_tokens; ++i) {
    if (types[i] != 3 && types[i] != 4) continue;
    const int64_t got = vocab.at(tokens[i]);
    if (got != i)
      meta.fail("added token '{}' got id {} != {}", tok::unicode::to_valid_utf8(tokens[i]), got, i);
    added.push_back({i, types[i] == 3});
  }

  OJson added_tokens = OJson::array();
  for (const Added& a : added)
    added_tokens.push_back(OJson{{"id", a.id}, {"content", std::string(tokens[a.id])},
                                 {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                                 {"normalized", false}, {"special", a.special}});

  // Post-processor.
  OJson post;
  std::vector<std::pair<std::string, int64_t>> special;
  std::vector<std::pair<std::string, int>> single{{"$A", 0}}, pair;
  auto template_token = [&](int64_t id, const char* what) {
    const std::string t(tokens[id]);
    // TemplateProcessing parses its template by splitting on spaces and ':' and reads a leading
    // '$' as a sequence: such a token cannot be named in it (the Python conversion fails too).
    if (t.empty() || t.find_first_of(" \t\n\r:") != std::string::npos || t[0] == '$')
      meta.fail("{} token '{}' cannot be used in a post-processor template", what,
                tok::unicode::to_valid_utf8(t));
    return t;
  };
  if (add_bos && bos_id) {
    const std::string t = template_token(*bos_id, "BOS");
    single.insert(single.begin(), {t, 0});
    special.emplace_back(t, *bos_id);
  }
  if (add_eos && eos_id) {
    const std::string t = template_token(*eos_id, "EOS");
    single.emplace_back(t, 0);
    special.emplace_back(t, *eos_id);
  }
  if (!special.empty()) {
    for (auto p : single) pair.push_back(p);  // "$A" keeps type 0 ("$A:0")
    for (auto p : single) pair.emplace_back(p.first == "$A" ? "$B" : p.first, p.first == "$A" ? 1 : 0);
    std::map<std::string, int64_t> by_name;  // serialized sorted by name
    for (const auto& [name, id] : special) by_name.emplace(name, id);
    OJson st = OJson::object();
    for (const auto& [name, id] : by_name)
      st[name] = OJson{{"id", name}, {"ids", OJson::array({id})}, {"tokens", OJson::array({name})}};
    post = OJson{{"type", "TemplateProcessing"}, {"single", pieces(single)}, {"pair", pieces(pair)},
                 {"special_tokens", st}};
  } else {
    post = byte_level(true, false, true);
  }

  // Appended directly: ordered_json's operator[] searches linearly (quadratic for 262k tokens).
  OJson vocab_json = OJson::object();
  auto& vocab_items = static_cast<OJson::object_t::Container&>(vocab_json.get_ref<OJson::object_t&>());
  vocab_items.reserve(tokens.size());
  for (int64_t i = 0; i < n_tokens; ++i)
    if (in_vocab[i]) vocab_items.emplace_back(std::string(tokens[i]), OJson(i));

  OJson tk;
  tk["version"] = "1.0";
  tk["truncation"] = nullptr;
  tk["padding"] = nullptr;
  tk["added_tokens"] = std::move(added_tokens);
  // SentencePiece: add_space_prefix defaults to true (llama.cpp); Gemma's files say false.
  bool add_space_prefix = true;
  if (const Value* v = meta.get("tokenizer.ggml.add_space_prefix")) add_space_prefix = Meta::truthy(*v);
  tk["normalizer"] = spm ? spm_normalizer(add_space_prefix) : OJson(nullptr);
  tk["pre_tokenizer"] = spm ? OJson(nullptr) : pre_tokenizer(pre);
  tk["post_processor"] = std::move(post);
  tk["decoder"] = spm ? spm_decoder(add_space_prefix) : byte_level(true, true, true);
  tk["model"] = OJson{{"type", "BPE"}, {"dropout", nullptr},
                      {"unk_token", spm && unk_id ? OJson(std::string(tokens[*unk_id])) : OJson(nullptr)},
                      {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                      {"fuse_unk", spm}, {"byte_fallback", spm},
                      {"ignore_merges", kPreLlama3.count(pre) > 0}, {"vocab", std::move(vocab_json)},
                      {"merges", std::move(merges)}};
  TokenizerFiles files;
  files.tokenizer_json = dump(tk, 2);

  // tokenizer_config.json
  auto name = [&](const std::optional<int64_t>& id) -> OJson {
    return id ? OJson(std::string(tokens[*id])) : OJson(nullptr);
  };
  OJson tcfg;
  tcfg["tokenizer_class"] = "PreTrainedTokenizerFast";
  tcfg["add_bos_token"] = add_bos;
  tcfg["add_eos_token"] = add_eos;
  tcfg["bos_token"] = name(bos_id);
  tcfg["eos_token"] = name(eos_id);
  tcfg["unk_token"] = name(unk_id);
  tcfg["pad_token"] = name(pad_id);
  tcfg["clean_up_tokenization_spaces"] = false;
  std::optional<int64_t> ctx;
  if (context_length) {
    const int64_t c = meta.as_int("context_length", *context_length);
    if (c != 0) ctx = c;
  }
  // Without a context length: transformers' VERY_LARGE_INTEGER, int(1e30), written as the
  // integer Python writes (too large for JSON libraries' integers: patched in as text below).
  constexpr int64_t kVeryLargePlaceholder = 9223372036854775807;
  tcfg["model_max_length"] = ctx ? *ctx : kVeryLargePlaceholder;
  OJson decoder = OJson::object();
  for (const Added& a : added)
    decoder[std::to_string(a.id)] = OJson{{"content", std::string(tokens[a.id])}, {"lstrip", false},
                                          {"normalized", false}, {"rstrip", false},
                                          {"single_word", false}, {"special", a.special}};
  tcfg["added_tokens_decoder"] = std::move(decoder);
  OJson clean = OJson::object();
  for (auto& [k, v] : tcfg.items())
    if (!v.is_null()) clean[k] = v;
  if (const Value* ct = meta.get("tokenizer.chat_template"); ct && Meta::truthy(*ct)) {
    if (!ct->is_string()) meta.fail("tokenizer.chat_template must be a string");
    clean["chat_template"] = tok::unicode::to_valid_utf8(ct->s);
  }
  files.tokenizer_config_json = dump(clean, 2) + "\n";
  if (!ctx) {
    const std::string from = "\"model_max_length\": 9223372036854775807", to = "\"model_max_length\": 1000000000000000019884624838656";
    if (const size_t at = files.tokenizer_config_json.find(from); at != std::string::npos)
      files.tokenizer_config_json.replace(at, from.size(), to);
  }

  OJson eos_ids = OJson::array();
  std::set<int64_t> seen;
  for (const auto& id : {eos_id, eot_id, eom_id})
    if (id && seen.insert(*id).second) eos_ids.push_back(*id);
  files.ids = OJson{{"bos_token_id", bos_id ? OJson(*bos_id) : OJson(nullptr)},
                    {"eos_token_id", eos_id ? OJson(*eos_id) : OJson(nullptr)},
                    {"pad_token_id", pad_id ? OJson(*pad_id) : OJson(nullptr)},
                    {"eos_ids", eos_ids}};
  return files;
}

}  // namespace ollmlx::gguf
