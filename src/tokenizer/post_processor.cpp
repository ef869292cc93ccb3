// The post-processors of tokenizer.json for a single sequence (see post_processor.h).
#include "tokenizer/post_processor.h"

#include <map>

#include "util/error.h"

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

// One template piece as written: a sequence ("A"/"B") or a special token name.
struct RawPiece {
  bool is_sequence = false;
  int sequence = 0;  // 0 = A, 1 = B
  std::string name;  // special token
};

RawPiece parse_piece(const Json& v, const std::string& where) {
  RawPiece piece;
  if (v.is_string()) {  // "$A", "$B:1", "[CLS]", "[CLS]:0"
    std::string s = v.get<std::string>();
    const size_t colon = s.rfind(':');
    if (colon != std::string::npos && colon + 1 < s.size() &&
        s.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
      s.resize(colon);
    }
    if (!s.empty() && s[0] == '$') {
      const std::string rest = s.substr(1);
      piece.is_sequence = true;
      if (rest.empty() || rest == "A" || rest == "0") {
        piece.sequence = 0;
      } else if (rest == "B" || rest == "1") {
        piece.sequence = 1;
      } else {
        jsonu::fail(where, fmt::format("unknown template sequence '{}'", s));
      }
    } else {
      piece.name = s;
    }
    return piece;
  }
  if (const Json* seq = jsonu::field(v, "Sequence")) {
    piece.is_sequence = true;
    const std::string id = jsonu::get_string(*seq, "id", where);
    if (id != "A" && id != "B") jsonu::fail(where, "sequence id must be A or B");
    piece.sequence = id == "B" ? 1 : 0;
    return piece;
  }
  if (const Json* sp = jsonu::field(v, "SpecialToken")) {
    piece.name = jsonu::get_string(*sp, "id", where);
    return piece;
  }
  jsonu::fail(where, "template piece must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
}

std::vector<RawPiece> parse_template(const Json& v, const char* key, const std::string& where) {
  std::vector<RawPiece> pieces;
  const Json* t = jsonu::field(v, key);
  if (t == nullptr) return pieces;
  if (t->is_string()) {  // "[CLS] $A [SEP]"
    const std::string s = t->get<std::string>();
    size_t i = 0;
    while (i < s.size()) {
      const size_t j = std::min(s.find(' ', i), s.size());
      if (j > i) pieces.push_back(parse_piece(Json(s.substr(i, j - i)), where));
      i = j + 1;
    }
  } else if (t->is_array()) {
    for (size_t i = 0; i < t->size(); ++i) {
      pieces.push_back(parse_piece((*t)[i], jsonu::index(jsonu::child(where, key), i)));
    }
  } else {
    jsonu::fail(where, fmt::format("'{}' must be an array or a string", key));
  }
  return pieces;
}

}  // namespace

PostProcessorChain PostProcessorChain::parse(const Json& value, std::string_view where) {
  PostProcessorChain chain;
  if (value.is_null()) return chain;
  chain.add(value, std::string(where));
  // HF runs a template on one (single) or two (pair) segments and fails otherwise; reject a
  // chain that would hand a template more.
  for (bool add_special : {true, false}) {
    Segments probe{{}};
    if (!chain.run(probe, add_special)) {
      jsonu::fail(where, "post-processor chain feeds a template more than two segments");
    }
  }
  return chain;
}

void PostProcessorChain::add(const Json& v, const std::string& where) {
  const std::string type = jsonu::type_of(v, where);
  const std::string at = where + " (" + type + ")";
  if (type == "Sequence") {
    const Json* list = jsonu::field(v, "processors");
    if (list == nullptr || !list->is_array()) jsonu::fail(at, "'processors' must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      add((*list)[i], jsonu::index(jsonu::child(where, "processors"), i));
    }
    return;
  }
  if (type == "ByteLevel") return;  // only trims offsets
  Step step;
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    step.kind = type == "RobertaProcessing" ? Step::kRoberta : Step::kBert;
    step.cls = token_pair_id(v, "cls", at);
    step.sep = token_pair_id(v, "sep", at);
  } else if (type == "TemplateProcessing") {
    std::map<std::string, std::vector<int32_t>> specials;
    if (const Json* st = jsonu::field(v, "special_tokens")) {
      if (!st->is_object()) jsonu::fail(at, "'special_tokens' must be an object");
      for (const auto& [name, tok] : st->items()) {
        const std::string w = jsonu::child(at, "special_tokens." + name);
        jsonu::require_object(tok, w);
        const Json* ids = jsonu::field(tok, "ids");
        if (ids == nullptr || !ids->is_array()) jsonu::fail(w, "'ids' must be an array");
        const std::string key = jsonu::field(tok, "id") != nullptr ? jsonu::get_string(tok, "id", w)
                                                                    : name;
        std::vector<int32_t>& list = specials[key];
        for (const Json& id : *ids) list.push_back(jsonu::as_id(id, w));
      }
    }
    if (jsonu::field(v, "single") == nullptr) jsonu::fail(at, "missing 'single'");
    auto resolve = [&](const std::vector<RawPiece>& raw, std::vector<Piece>& out) {
      for (const RawPiece& r : raw) {
        Piece p;
        p.is_sequence = r.is_sequence;
        if (r.is_sequence) {
          p.sequence = r.sequence;
        } else {
          const auto it = specials.find(r.name);
          if (it == specials.end()) {
            jsonu::fail(at, fmt::format("template uses special token '{}' missing from "
                                        "special_tokens",
                                        r.name));
          }
          p.ids = it->second;
        }
        out.push_back(std::move(p));
      }
    };
    resolve(parse_template(v, "single", at), step.single);
    resolve(parse_template(v, "pair", at), step.pair);
  } else {
    jsonu::fail(at, "unsupported post-processor type");
  }
  steps_.push_back(std::move(step));
}

bool PostProcessorChain::run(Segments& segments, bool add_special_tokens) const {
  for (const Step& step : steps_) {
    if (step.kind == Step::kTemplate) {
      if (segments.size() != 1 && segments.size() != 2) return false;
      const auto& tpl = segments.size() == 1 ? step.single : step.pair;
      Segments out;
      for (const Piece& p : tpl) {
        if (p.is_sequence) {
          if (static_cast<size_t>(p.sequence) >= segments.size()) return false;
          out.push_back(segments[static_cast<size_t>(p.sequence)]);
        } else if (add_special_tokens) {
          out.push_back(p.ids);
        }
      }
      segments = std::move(out);
    } else if (add_special_tokens) {
      for (size_t i = 0; i < segments.size(); ++i) {
        std::vector<int32_t> s;
        s.reserve(segments[i].size() + 3);
        if (i == 0) {
          s.push_back(step.cls);
        } else if (step.kind == Step::kRoberta) {
          s.push_back(step.sep);
        }
        s.insert(s.end(), segments[i].begin(), segments[i].end());
        s.push_back(step.sep);
        segments[i] = std::move(s);
      }
    }
  }
  return true;
}

void PostProcessorChain::process(std::vector<int32_t>& ids, bool add_special_tokens) const {
  if (steps_.empty()) return;
  Segments segments{std::move(ids)};
  if (!run(segments, add_special_tokens)) {
    throw_error("tokenizer", "post-processor chain feeds a template more than two segments");
  }
  ids.clear();
  for (const auto& s : segments) ids.insert(ids.end(), s.begin(), s.end());
}

}  // namespace ollmlx::tok
