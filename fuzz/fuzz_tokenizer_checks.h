// The checks behind fuzz_tokenizer.cpp, shared with the unit test that replays the seed corpus
// (tests/unit/tokenizer/test_fuzz_corpus.cpp). Input layout: byte 0 = mode (bits 0-1), flags
// (bits 2-3), tokenizer index (bits 4-7); the rest is the payload.
//   mode 0: payload is text: encode (add_special = flag 1, parse_special = flag 2); every id must
//           be in range, decode must be valid UTF-8, streaming must reproduce decode.
//   mode 1: payload is little-endian int32 ids (also negative / out of range): decode + stream.
//   mode 2: payload is a tokenizer.json: it loads or throws ollmlx::Error; if it loads, it
//           encodes and decodes a fixed text.
//   mode 3: payload is "stop\x02stop...\x01chunk\x01chunk...": StopMatcher invariants.
// Tokenizers: three small embedded ones (byte-level, SentencePiece-style, Metaspace) plus real
// ones from the test fixtures when present ($OLLMLX_FIXTURES or <source>/tests/fixtures/generated).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/byte_level.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

#ifndef OLLMLX_FUZZ_FAIL
#define OLLMLX_FUZZ_FAIL(msg)                          \
  do {                                                 \
    std::fprintf(stderr, "fuzz check failed: %s\n", msg); \
    std::abort();                                      \
  } while (0)
#endif

namespace ollmlx::tok::fuzz {

using nlohmann::json;

inline json added_token(int id, const std::string& content, bool special, bool normalized = false,
                        bool lstrip = false, bool rstrip = false, bool single_word = false) {
  return {{"id", id},         {"content", content}, {"single_word", single_word},
          {"lstrip", lstrip}, {"rstrip", rstrip},   {"normalized", normalized},
          {"special", special}};
}

// A byte-level BPE in the Llama 3 style (Split regex + ByteLevel), with added-token flags.
inline std::string byte_level_json() {
  json vocab = json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    vocab[std::string(byte_level::char_of(static_cast<uint8_t>(b)))] = id++;
  }
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"\xC4\xA0", "t"}, {"h", "e"},       {"\xC4\xA0t", "he"}, {"i", "n"},  {"\xC4\xA0", "a"},
      {"a", "n"},        {"\xC4\xA0" "a", "n"}, {"e", "r"},         {"o", "n"},  {"\xC4\xA0", "s"},
      {"in", "g"},       {"\xC3\x83", "\xC2\xA9"}};  // "Ã©" = é
  json merge_list = json::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  const std::string pattern =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  return json{
      {"added_tokens",
       json::array({added_token(id, "<|bos|>", true), added_token(id + 1, "<|eos|>", true, false,
                                                                  false, true),
                    added_token(id + 2, "<tool>", false, false, true),
                    added_token(id + 3, "hello", false, true, false, false, true)})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"}, {"pattern", {{"Regex", pattern}}},
                       {"behavior", "Isolated"}, {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false},
                       {"trim_offsets", true}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {id}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list},
                 {"ignore_merges", true}}}}
      .dump();
}

// A SentencePiece-style BPE (Llama 2 layout): Prepend/Replace normalizer, byte fallback.
inline std::string spm_json() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  int id = 3;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = id++;
  }
  const std::string sp = "\xE2\x96\x81";
  for (const char* t : {"a", "b", "c", "d", "e", "h", "l", "o", "w", "r"}) vocab[t] = id++;
  vocab[sp] = id++;
  json merges = json::array();
  for (const char* t : {"h", "w", "a"}) {
    vocab[sp + t] = id++;
    merges.push_back(sp + " " + t);
  }
  vocab["ll"] = id++;
  merges.push_back("l l");
  const json strip = {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}};
  return json{
      {"added_tokens", json::array({added_token(0, "<unk>", true), added_token(1, "<s>", true),
                                    added_token(2, "</s>", true)})},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", sp}},
                                     {{"type", "Replace"}, {"pattern", {{"String", " "}}},
                                      {"content", sp}}})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", sp}}},
                                   {"content", " "}},
                                  {{"type", "ByteFallback"}}, {{"type", "Fuse"}}, strip})}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"unk_token", "<unk>"},
                 {"fuse_unk", true}, {"byte_fallback", true}}}}
      .dump();
}

// Metaspace (prepend_scheme first) after Digits, with normalizers and a non-fused unk.
inline std::string metaspace_json() {
  const std::string sp = "\xE2\x96\x81";
  json vocab = {{"<unk>", 0}, {sp, 1}};
  int id = 2;
  for (const char* t : {"a", "b", "c", "1", "2", "3", ".", ","}) {
    vocab[t] = id++;
    vocab[sp + t] = id++;
  }
  return json{
      {"added_tokens", json::array({added_token(0, "<unk>", true)})},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", json::array({{{"type", "NFKC"}}, {{"type", "Lowercase"}},
                                     {{"type", "Strip"}, {"strip_left", false},
                                      {"strip_right", true}}})}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Digits"}, {"individual_digits", true}},
                      {{"type", "Punctuation"}, {"behavior", "Isolated"}},
                      {{"type", "Metaspace"}, {"replacement", sp}, {"prepend_scheme", "first"},
                       {"split", true}}})}}},
      {"decoder", {{"type", "Metaspace"}, {"replacement", sp}, {"prepend_scheme", "first"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()},
                 {"unk_token", "<unk>"}}}}
      .dump();
}

inline const std::vector<std::unique_ptr<Tokenizer>>& tokenizers() {
  static const std::vector<std::unique_ptr<Tokenizer>> all = [] {
    std::vector<std::unique_ptr<Tokenizer>> v;
    v.push_back(Tokenizer::from_json(byte_level_json()));
    v.push_back(Tokenizer::from_json(spm_json()));
    v.push_back(Tokenizer::from_json(metaspace_json()));
    const char* env = std::getenv("OLLMLX_FIXTURES");
    const std::string root = (env != nullptr ? std::string(env)
                                             : std::string(OLLMLX_FUZZ_SOURCE_DIR) +
                                                   "/tests/fixtures/generated") +
                             "/tokenizers/";
    for (const char* name : {"llama3", "llama2", "syn_added_flags", "syn_metaspace_first"}) {
      if (std::filesystem::exists(root + name + "/tokenizer.json")) {
        v.push_back(Tokenizer::load(root + name));
      }
    }
    return v;
  }();
  return all;
}

inline std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  StreamDecoder dec(tok, skip);
  std::string out;
  for (int32_t id : ids) out += dec.push(id);
  return out + dec.flush();
}

// Decoding yields valid UTF-8; for the known tokenizers streaming reproduces it exactly (an
// arbitrary fuzzed decoder chain may rewrite text across tokens, so mode 2 only streams).
inline void check_decoding(const Tokenizer& tok, const std::vector<int32_t>& ids,
                           bool exact_stream = true) {
  for (bool skip : {false, true}) {
    const std::string text = tok.decode(ids, skip);
    if (!unicode::is_valid_utf8(text)) OLLMLX_FUZZ_FAIL("decode produced invalid UTF-8");
    const std::string s = streamed(tok, ids, skip);
    if (!unicode::is_valid_utf8(s)) OLLMLX_FUZZ_FAIL("stream produced invalid UTF-8");
    if (exact_stream && s != text) OLLMLX_FUZZ_FAIL("stream decode differs from decode");
  }
}

inline void check_stops(const std::string& payload) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t cut = payload.find('\x01', start);
    parts.push_back(payload.substr(start, cut == std::string::npos ? cut : cut - start));
    if (cut == std::string::npos) break;
    start = cut + 1;
  }
  std::vector<std::string> stops;
  start = 0;
  while (true) {
    const size_t cut = parts[0].find('\x02', start);
    stops.push_back(parts[0].substr(start, cut == std::string::npos ? cut : cut - start));
    if (cut == std::string::npos) break;
    start = cut + 1;
  }
  StopMatcher m(stops);
  std::string full, out;
  for (size_t i = 1; i < parts.size(); ++i) {
    full += parts[i];
    out += m.push(parts[i]);
  }
  if (!m.stopped()) out += m.flush();
  if (full.compare(0, out.size(), out) != 0) OLLMLX_FUZZ_FAIL("stop output is not a prefix");
  if (m.stopped()) {
    if (full.compare(out.size(), m.matched().size(), m.matched()) != 0) {
      OLLMLX_FUZZ_FAIL("matched stop string is not where the output ends");
    }
  } else {
    if (out != full) OLLMLX_FUZZ_FAIL("text lost without a stop");
    for (const std::string& s : stops) {
      if (!s.empty() && full.find(s) != std::string::npos) OLLMLX_FUZZ_FAIL("missed a stop");
    }
  }
}

inline void run_one(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const int mode = data[0] & 3;
  const bool flag1 = (data[0] & 4) != 0, flag2 = (data[0] & 8) != 0;
  const auto& toks = tokenizers();
  const Tokenizer& tok = *toks[(data[0] >> 4) % toks.size()];
  const std::string payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode == 0) {
    const std::vector<int32_t> ids = tok.encode(payload, flag1, flag2);
    for (int32_t id : ids) {
      if (id < 0 || id >= tok.vocab_size()) OLLMLX_FUZZ_FAIL("encode produced an id out of range");
    }
    check_decoding(tok, ids);
  } else if (mode == 1) {
    std::vector<int32_t> ids;
    const auto range = static_cast<uint32_t>(tok.vocab_size()) + 8;
    for (size_t i = 0; i + 4 <= payload.size(); i += 4) {
      uint32_t v = 0;
      std::memcpy(&v, payload.data() + i, 4);
      ids.push_back(static_cast<int32_t>(v % range) - 4);
    }
    check_decoding(tok, ids);
  } else if (mode == 2) {
    try {
      const auto loaded = Tokenizer::from_json(payload);
      const auto ids = loaded->encode("Hello <s> w\xC3\xB6rld 123!\n", flag1, flag2);
      check_decoding(*loaded, ids, /*exact_stream=*/false);
    } catch (const Error&) {
      // Rejected cleanly.
    }
  } else {
    check_stops(payload);
  }
}

}  // namespace ollmlx::tok::fuzz
