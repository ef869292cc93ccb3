// The post-processors of tokenizer.json for a single sequence (see post_processor.h).
#include "tokenizer/post_processor.h"

#include <map>

namespace ollmlx::tok {
namespace {

using jsonu::Json;

// ["</s>", 2] (Roberta/Bert "sep"/"cls").
int32_t token_pair_id(const Json& v, const char* key, const std::string& where) {
  const Json* p = jsonu::field(v, key);
  if (p == nullptr || !p->is_array() || p->size() != 2 || !(*p)[0].is_string()) {
    jsonu::fail(where, fmt::format("'{}' must be [\"token\", id]", key));
  }
  return jsonu::as_id((*p)[1], jsonu::child(where, key));
}

// One template piece: the sequence ("A") or a special token's id list.
struct TemplatePiece {
  bool is_sequence = false;
  std::string name;  // sequence id ("A"/"B") or special token id
};

TemplatePiece parse_template_piece(const Json& v, const std::string& where) {
  TemplatePiece piece;
  if (v.is_string()) {  // "$A", "$B:1", "[CLS]", "[CLS]:0"
    std::string s = v.get<std::string>();
    const size_t colon = s.rfind(':');
    if (colon != std::string::npos && colon + 1 < s.size() &&
        s.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
      s.resize(colon);
    }
    if (!s.empty() && s[0] == '$') {
      piece.is_sequence = true;
      const std::string rest = s.substr(1);
      piece.name = rest.empty() || rest == "0" || rest == "A" ? "A" : (rest == "1" ? "B" : rest);
    } else {
      piece.name = s;
    }
    return piece;
  }
  if (const Json* seq = jsonu::field(v, "Sequence")) {
    piece.is_sequence = true;
    piece.name = jsonu::get_string(*seq, "id", where);
    if (piece.name != "A" && piece.name != "B") jsonu::fail(where, "sequence id must be A or B");
    return piece;
  }
  if (const Json* sp = jsonu::field(v, "SpecialToken")) {
    piece.name = jsonu::get_string(*sp, "id", where);
    return piece;
  }
  jsonu::fail(where, "template piece must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
}

}  // namespace

PostProcessorChain PostProcessorChain::parse(const Json& value, std::string_view where) {
  PostProcessorChain chain;
  if (!value.is_null()) chain.add(value, std::string(where));
  return chain;
}

void PostProcessorChain::add(const Json& v, const std::string& where) {
  const std::string type = jsonu::type_of(v, where);
  const std::string at = where + " (" + type + ")";
  std::vector<int32_t> before, after;
  if (type == "Sequence") {
    const Json* list = jsonu::field(v, "processors");
    if (list == nullptr || !list->is_array()) jsonu::fail(at, "'processors' must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      add((*list)[i], jsonu::index(jsonu::child(where, "processors"), i));
    }
    return;
  }
  if (type == "ByteLevel") return;  // only trims offsets
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    before.push_back(token_pair_id(v, "cls", at));
    after.push_back(token_pair_id(v, "sep", at));
  } else if (type == "TemplateProcessing") {
    std::map<std::string, std::vector<int32_t>> specials;
    if (const Json* st = jsonu::field(v, "special_tokens")) {
      if (!st->is_object()) jsonu::fail(at, "'special_tokens' must be an object");
      for (const auto& [name, tok] : st->items()) {
        const std::string w = jsonu::child(at, "special_tokens." + name);
        const Json* ids = jsonu::field(tok, "ids");
        if (ids == nullptr || !ids->is_array()) jsonu::fail(w, "'ids' must be an array");
        std::vector<int32_t>& list = specials[jsonu::field(tok, "id") != nullptr
                                                  ? jsonu::get_string(tok, "id", w)
                                                  : name];
        for (const Json& id : *ids) list.push_back(jsonu::as_id(id, w));
      }
    }
    const Json* single = jsonu::field(v, "single");
    if (single == nullptr) jsonu::fail(at, "missing 'single'");
    std::vector<TemplatePiece> pieces;
    if (single->is_string()) {  // "[CLS] $A [SEP]"
      const std::string s = single->get<std::string>();
      size_t i = 0;
      while (i < s.size()) {
        const size_t j = std::min(s.find(' ', i), s.size());
        if (j > i) pieces.push_back(parse_template_piece(Json(s.substr(i, j - i)), at));
        i = j + 1;
      }
    } else if (single->is_array()) {
      for (size_t i = 0; i < single->size(); ++i) {
        pieces.push_back(parse_template_piece((*single)[i], jsonu::index(at + ".single", i)));
      }
    } else {
      jsonu::fail(at, "'single' must be an array or a string");
    }
    bool seen_sequence = false;
    for (const TemplatePiece& p : pieces) {
      if (p.is_sequence) {
        if (p.name == "A") seen_sequence = true;
        continue;
      }
      const auto it = specials.find(p.name);
      if (it == specials.end()) {
        jsonu::fail(at, fmt::format("template uses special token '{}' missing from "
                                    "special_tokens", p.name));
      }
      auto& side = seen_sequence ? after : before;
      side.insert(side.end(), it->second.begin(), it->second.end());
    }
  } else {
    jsonu::fail(at, "unsupported post-processor type");
  }
  // Nest: earlier processors' tokens end up inside later ones'.
  prefix_.insert(prefix_.begin(), before.begin(), before.end());
  suffix_.insert(suffix_.end(), after.begin(), after.end());
}

void PostProcessorChain::process(std::vector<int32_t>& ids, bool add_special_tokens) const {
  if (!add_special_tokens) return;
  if (!prefix_.empty()) ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
  ids.insert(ids.end(), suffix_.begin(), suffix_.end());
}

}  // namespace ollmlx::tok
