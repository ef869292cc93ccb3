// JSON in (render context) and out (json.dumps-compatible tojson) for template values.
#include "template/json_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "template/failure.h"
#include "template/pyformat.h"

namespace ollmlx::tmpl {

namespace {

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) fail(ErrorKind::Limit, "input JSON nesting too deep");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_at(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto d = std::make_shared<DictData>();
      for (auto it = j.begin(); it != j.end(); ++it) {
        d->set(Value::string(it.key()), from_json_at(it.value(), depth + 1));
      }
      return Value::dict(std::move(d));
    }
    default: return Value::none();  // binary and discarded values do not occur in chat input
  }
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& o) : o_(o) {}

  void dump(const Value& v, int level) {
    if (out.size() > o_.max_bytes) fail(ErrorKind::Limit, "tojson output too large");
    switch (v.kind()) {
      case Kind::None: out += "null"; return;
      case Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
      case Kind::Int: out += std::to_string(v.as_int()); return;
      case Kind::Float: out += float_text(v.as_float()); return;
      case Kind::Str: json_quote(out, v.str(), o_.ensure_ascii); return;
      case Kind::List: {
        const ListData& l = v.list_data();
        if (l.kind != ListKind::List && l.kind != ListKind::Tuple) break;
        if (l.items.empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t i = 0; i < l.items.size(); ++i) {
          if (i) out += o_.item_separator;
          newline(level + 1);
          dump(l.items[i], level + 1);
        }
        newline(level);
        out += ']';
        return;
      }
      case Kind::Dict: {
        const DictData& d = v.dict();
        if (d.size() == 0) {
          out += "{}";
          return;
        }
        std::vector<const std::pair<Value, Value>*> items;
        for (const auto& kv : d.items()) items.push_back(&kv);
        if (o_.sort_keys) {
          // Sort positions by key (Value-level sort keeps the comparison Python's).
          std::vector<Value> order;
          for (size_t i = 0; i < items.size(); ++i) {
            order.push_back(
                Value::tuple({items[i]->first, Value::integer(static_cast<int64_t>(i))}));
          }
          py_sort(order, [](const Value& a, const Value& b) {
            return compare(a.items()[0], b.items()[0]) == -1;
          });
          std::vector<const std::pair<Value, Value>*> sorted;
          for (const Value& o : order)
            sorted.push_back(items[static_cast<size_t>(o.items()[1].as_int())]);
          items = std::move(sorted);
        }
        out += '{';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += o_.item_separator;
          newline(level + 1);
          key(items[i]->first);
          out += o_.key_separator;
          dump(items[i]->second, level + 1);
        }
        newline(level);
        out += '}';
        return;
      }
      default: break;
    }
    failf(ErrorKind::Type, "Object of type {} is not JSON serializable", type_name(v));
  }

  std::string out;

 private:
  static std::string float_text(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
  }

  void key(const Value& k) {
    switch (k.kind()) {
      case Kind::Str: json_quote(out, k.str(), o_.ensure_ascii); return;
      case Kind::None: out += "\"null\""; return;
      case Kind::Bool: out += k.as_bool() ? "\"true\"" : "\"false\""; return;
      case Kind::Int: out += fmt::format("\"{}\"", k.as_int()); return;
      case Kind::Float: out += fmt::format("\"{}\"", float_text(k.as_float())); return;
      default:
        failf(ErrorKind::Type, "keys must be str, int, float, bool or None, not {}", type_name(k));
    }
  }

  void newline(int level) {
    if (!o_.indent) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += *o_.indent;
  }

  const JsonDumpOptions& o_;
};

}  // namespace

Value from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 0); }

std::string dump_json(const Value& v, const JsonDumpOptions& options) {
  Dumper d(options);
  d.dump(v, 0);
  if (d.out.size() > options.max_bytes) fail(ErrorKind::Limit, "tojson output too large");
  return std::move(d.out);
}

}  // namespace ollmlx::tmpl
