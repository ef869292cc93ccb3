// jinja2's built-in filters (jinja2/filters.py semantics, autoescape off) plus transformers'
// own tojson. Filters that return generators in jinja2 (map, select, unique, ...) return
// one-shot iterators here, so truthiness, len() and re-iteration behave as in Python.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "template/builtins.h"
#include "template/failure.h"
#include "template/interp.h"
#include "template/json_value.h"
#include "template/objects.h"
#include "template/pyformat.h"
#include "template/strformat.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

namespace {

using Args = std::vector<const Value*>;

std::string soft_str(const Value& v) { return to_str(v); }

Value str_value(std::string s) { return Value::string(std::move(s)); }

// ---- attribute getters (make_attrgetter / make_multi_attrgetter) ----

std::vector<Value> attribute_parts(const Value& attribute) {
  if (attribute.is_none()) return {};
  if (!attribute.is_str()) return {attribute};
  std::vector<Value> parts;
  const std::string& s = attribute.str();
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string part =
        s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
    if (digits && part.size() < 18) {
      parts.push_back(Value::integer(std::stoll(part)));
    } else {
      parts.push_back(Value::string(part));
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Value lower_if_str(const Value& v) { return v.is_str() ? Value::string(py_lower(v.str())) : v; }

struct AttrGetter {
  std::vector<Value> parts;
  bool lower = false;
  const Value* dflt = nullptr;
  Value operator()(Interp& in, Value item) const {
    for (const Value& p : parts) {
      item = in.getitem(item, p);
      if (dflt && !dflt->is_none() && item.is_undefined()) item = *dflt;
    }
    return lower ? lower_if_str(item) : item;
  }
};

// ---- sequence helpers ----

Value sort_key_list(Interp& in, const Value& item, const std::vector<AttrGetter>& getters) {
  std::vector<Value> keys;
  for (const auto& g : getters) keys.push_back(g(in, item));
  return Value::list(std::move(keys));
}

bool less_than(const Value& a, const Value& b) { return compare(a, b) == -1; }

// ---- filters ----

Value f_abs(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "abs", {});
  if (v.is_integral()) {
    if (v.as_int() == INT64_MIN) fail(ErrorKind::Value, "integer overflow");
    return Value::integer(std::llabs(v.as_int()));
  }
  if (v.kind() == Kind::Float) return Value::number(std::fabs(v.as_float()));
  failf(ErrorKind::Type, "bad operand type for abs(): '{}'", type_name(v));
}

Value f_attr(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "attr", {"name"}, 1);
  if (!a[0]->is_str()) fail(ErrorKind::Type, "attribute name must be string");
  const std::string& name = a[0]->str();
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_object()) {
    if (auto r = v.object()->getattr(in, name)) return *r;
  } else if (auto r = builtin_attribute(v, name)) {
    return *r;
  }
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type_repr(v), name));
}

Value f_batch(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "batch", {"linecount", "fill_with"}, 1);
  const int64_t n = arg_int(a[0], 0, "batch");
  std::vector<Value> out, tmp;
  for (const Value& item : in.iterate(v)) {
    if (static_cast<int64_t>(tmp.size()) == n) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(item);
  }
  if (!tmp.empty()) {
    if (n > static_cast<int64_t>(kMaxItems))
      failf(ErrorKind::Limit, "batch of more than {} items", kMaxItems);
    if (a[1] && !a[1]->is_none()) {
      while (static_cast<int64_t>(tmp.size()) < n) {
        in.charge();
        tmp.push_back(*a[1]);
      }
    }
    out.push_back(Value::list(std::move(tmp)));
  }
  return make_iterator(std::move(out));
}

Value f_capitalize(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "capitalize", {});
  return str_value(py_capitalize(soft_str(v)));
}

Value f_center(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "center", {"width"});
  return str_value(py_center(in, soft_str(v), arg_int(a[0], 80, "center"), U' '));
}

Value f_length(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "length", {});
  if (auto n = py_len(v)) return Value::integer(*n);
  failf(ErrorKind::Type, "object of type '{}' has no len()", type_name(v));
}

Value f_default(Interp&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "default", {"default_value", "boolean"});
  if (v.is_undefined() || (arg_bool(a[1], false) && !truthy(v))) {
    return a[0] ? *a[0] : Value::string("");
  }
  return v;
}

Value f_dictsort(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "dictsort", {"case_sensitive", "by", "reverse"});
  const bool cs = arg_bool(a[0], false);
  const std::string by = a[1] ? arg_str(a[1], "key", "dictsort") : "key";
  if (by != "key" && by != "value")
    fail(ErrorKind::Value, "You can only sort by either \"key\" or \"value\"");
  const bool reverse = arg_bool(a[2], false);
  if (!v.is_dict()) failf(ErrorKind::Type, "'{}' object has no attribute 'items'", type_name(v));
  std::vector<Value> items;
  for (const auto& [k, val] : v.dict().items()) items.push_back(Value::tuple({k, val}));
  in.charge(items.size() * 4);
  const size_t pos = by == "key" ? 0 : 1;
  py_sort(items, [&](const Value& x, const Value& y) {
    Value kx = x.items()[pos], ky = y.items()[pos];
    if (!cs) kx = lower_if_str(kx), ky = lower_if_str(ky);
    return reverse ? less_than(ky, kx) : less_than(kx, ky);
  });
  return Value::list(std::move(items));
}

Value f_escape(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "escape", {});
  if (v.is_str() && v.markup()) return v;
  return Value::string(html_escape(soft_str(v)), true);
}

Value f_forceescape(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "forceescape", {});
  return Value::string(html_escape(soft_str(v)), true);
}

Value f_filesizeformat(Interp&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "filesizeformat", {"binary"});
  const bool binary = arg_bool(a[0], false);
  double bytes = 0;
  if (v.is_number()) {
    bytes = v.to_double();
  } else if (v.is_str()) {
    if (!parse_py_float(v.str(), bytes))
      failf(ErrorKind::Value, "could not convert string to float: {}", repr(v));
  } else {
    if (v.is_undefined()) fail_undefined(v);
    failf(ErrorKind::Type, "float() argument must be a string or a real number, not '{}'",
          type_name(v));
  }
  const double base = binary ? 1024 : 1000;
  static const char* kDec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  static const char* kBin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  if (bytes == 1) return str_value("1 Byte");
  if (bytes < base) return str_value(fmt::format("{} Bytes", static_cast<int64_t>(bytes)));
  double unit = base;
  for (int i = 0; i < 8; ++i) {
    unit = std::pow(base, i + 2);
    if (bytes < unit || i == 7) {
      return str_value(fmt::format("{:.1f} {}", base * bytes / unit, binary ? kBin[i] : kDec[i]));
    }
  }
  return str_value("");
}

Value f_first(Interp& in, const Value& v, CallArgs& args) {
  bind_args(args, "first", {});
  if (v.is_list()) {
    if (v.items().empty()) return Value::undefined("No first item, sequence was empty.");
    return v.items().front();
  }
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interp& in, const Value& v, CallArgs& args) {
  bind_args(args, "last", {});
  if (v.is_object() && !v.object()->length()) {
    failf(ErrorKind::Type, "'{}' object is not reversible", type_name(v));
  }
  if (v.is_list() && v.list_data().kind != ListKind::List &&
      v.list_data().kind != ListKind::Tuple && v.list_data().kind != ListKind::Range &&
      v.list_data().kind != ListKind::DictKeys && v.list_data().kind != ListKind::DictItems &&
      v.list_data().kind != ListKind::DictValues) {
    failf(ErrorKind::Type, "'{}' object is not reversible", type_name(v));
  }
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value to_float(const Value& v, const Value& dflt) {
  if (v.is_number()) return Value::number(v.to_double());
  if (v.is_str()) {
    double d = 0;
    if (parse_py_float(v.str(), d)) return Value::number(d);
    return dflt;
  }
  if (v.is_undefined()) fail_undefined(v);
  return dflt;
}

Value f_float(Interp&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "float", {"default"});
  return to_float(v, a[0] ? *a[0] : Value::number(0.0));
}

Value f_int(Interp&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "int", {"default", "base"});
  const Value dflt = a[0] ? *a[0] : Value::integer(0);
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_integral()) return Value::integer(v.as_int());
  auto from_double = [&](double d) -> Value {
    if (std::isnan(d)) return dflt;
    if (std::isinf(d)) fail(ErrorKind::Value, "cannot convert float infinity to integer");
    if (std::fabs(d) >= 9.2e18) fail(ErrorKind::Value, "integer overflow");
    return Value::integer(static_cast<int64_t>(std::trunc(d)));
  };
  if (v.kind() == Kind::Float) return from_double(v.as_float());
  if (v.is_str()) {
    int64_t i = 0;
    if (parse_py_int(v.str(), static_cast<int>(arg_int(a[1], 10, "int")), i))
      return Value::integer(i);
    double d = 0;
    if (parse_py_float(v.str(), d)) {
      if (std::isinf(d)) return dflt;
      return from_double(d);
    }
    return dflt;
  }
  return dflt;
}

Value f_format(Interp& in, const Value& v, CallArgs& args) {
  if (!args.pos.empty() && !args.kw.empty()) {
    fail(ErrorKind::Runtime, "can't handle positional and keyword arguments at the same time");
  }
  Value operand;
  if (!args.kw.empty()) {
    auto d = std::make_shared<DictData>();
    for (const auto& [k, val] : args.kw) d->set(Value::string(k), val);
    operand = Value::dict(std::move(d));
  } else {
    operand = Value::tuple(args.pos);
  }
  std::string s = percent_format(in, soft_str(v), operand);
  in.check_size(s.size());
  return str_value(std::move(s));
}

Value f_groupby(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "groupby", {"attribute", "default", "case_sensitive"}, 1);
  const bool cs = arg_bool(a[2], false);
  AttrGetter key{attribute_parts(*a[0]), !cs, a[1]};
  AttrGetter out_key{attribute_parts(*a[0]), false, a[1]};
  std::vector<Value> items = in.iterate(v);
  in.charge(items.size() * 4);
  std::vector<Value> keys;
  for (const Value& item : items) keys.push_back(Value::tuple({key(in, item), item}));
  py_sort(keys,
          [](const Value& x, const Value& y) { return less_than(x.items()[0], y.items()[0]); });
  std::vector<Value> groups;
  size_t i = 0;
  while (i < keys.size()) {
    std::vector<Value> members;
    size_t j = i;
    while (j < keys.size() && equal(keys[j].items()[0], keys[i].items()[0]))
      members.push_back(keys[j++].items()[1]);
    const Value grouper = cs ? keys[i].items()[0] : out_key(in, members[0]);
    auto data = std::make_shared<ListData>();
    data->items = {grouper, Value::list(std::move(members))};
    data->kind = ListKind::Tuple;
    data->fields = {"grouper", "list"};
    groups.push_back(Value::list(std::move(data)));
    i = j;
  }
  return Value::list(std::move(groups));
}

Value f_indent(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "indent", {"width", "first", "blank"});
  // jinja2 appends "\n" with += and calls splitlines(): only strings survive that.
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_str()) failf(ErrorKind::Type, "indent: expected a string, got '{}'", type_name(v));
  std::string ind;
  if (a[0] && a[0]->is_str()) {
    ind = a[0]->str();
  } else {
    const int64_t w = arg_int(a[0], 4, "indent");
    in.check_size(static_cast<size_t>(std::max<int64_t>(w, 0)));
    ind.assign(static_cast<size_t>(std::max<int64_t>(w, 0)), ' ');
  }
  const bool first = arg_bool(a[1], false), blank = arg_bool(a[2], false);
  const std::vector<std::string> lines = py_splitlines(soft_str(v) + "\n", false);
  in.check_size(soft_str(v).size() + lines.size() * (ind.size() + 1));
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + ind;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += ind;
      rv += lines[i];
    }
  }
  if (first) rv = ind + rv;
  return str_value(std::move(rv));
}

Value f_items(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "items", {});
  if (v.is_undefined()) return make_iterator({});
  if (!v.is_dict()) fail(ErrorKind::Type, "Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict().items()) out.push_back(Value::tuple({k, val}));
  return make_iterator(std::move(out));
}

Value f_join(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "join", {"d", "attribute"});
  const std::string sep = a[0] ? soft_str(*a[0]) : "";
  std::vector<Value> items = in.iterate(v);
  std::string out;
  AttrGetter get{a[1] ? attribute_parts(*a[1]) : std::vector<Value>{}};
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += soft_str(a[1] ? get(in, items[i]) : items[i]);
    in.check_size(out.size());
  }
  return str_value(std::move(out));
}

Value f_list(Interp& in, const Value& v, CallArgs& args) {
  bind_args(args, "list", {});
  return Value::list(in.iterate(v));
}

Value f_lower(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "lower", {});
  return str_value(py_lower(soft_str(v)));
}

Value f_upper(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "upper", {});
  return str_value(py_upper(soft_str(v)));
}

Value f_map(Interp& in, const Value& v, CallArgs& args) {
  if (!truthy(v)) return make_iterator({});
  std::vector<Value> items = in.iterate(v);
  std::vector<Value> out;
  const Value* attribute = nullptr;
  const Value* dflt = nullptr;
  for (const auto& [k, val] : args.kw) {
    if (k == "attribute") attribute = &val;
    if (k == "default") dflt = &val;
  }
  if (args.pos.empty() && attribute) {
    for (const auto& kv : args.kw) {
      if (kv.first != "attribute" && kv.first != "default") {
        failf(ErrorKind::Runtime, "Unexpected keyword argument '{}'", kv.first);
      }
    }
    AttrGetter get{attribute_parts(*attribute), false, dflt};
    for (const Value& item : items) out.push_back(get(in, item));
    return make_iterator(std::move(out));
  }
  if (args.pos.empty()) fail(ErrorKind::Runtime, "map requires a filter argument");
  if (!args.pos[0].is_str()) fail(ErrorKind::Runtime, "map filter name must be a string");
  const std::string name = args.pos[0].str();
  CallArgs rest;
  rest.pos.assign(args.pos.begin() + 1, args.pos.end());
  rest.kw = args.kw;
  for (const Value& item : items) {
    CallArgs copy = rest;
    out.push_back(in.apply_filter(name, item, copy));
  }
  return make_iterator(std::move(out));
}

Value min_max(Interp& in, const Value& v, CallArgs& args, bool want_max) {
  auto a = bind_args(args, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  AttrGetter key{a[1] ? attribute_parts(*a[1]) : std::vector<Value>{}, !arg_bool(a[0], false)};
  size_t best = 0;
  Value best_key = key(in, items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(in, items[i]);
    if (want_max ? less_than(best_key, k) : less_than(k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

Value f_max(Interp& in, const Value& v, CallArgs& args) { return min_max(in, v, args, true); }
Value f_min(Interp& in, const Value& v, CallArgs& args) { return min_max(in, v, args, false); }

// pprint.pformat sorts dict keys (long values are not wrapped here as pprint would).
Value sorted_dicts(const Value& v) {
  if (v.is_dict()) {
    std::vector<Value> keys;
    for (const auto& kv : v.dict().items()) keys.push_back(kv.first);
    py_sort(keys, less_than);
    auto d = std::make_shared<DictData>();
    for (const Value& k : keys) d->set(k, sorted_dicts(*v.dict().find(k)));
    return Value::dict(std::move(d));
  }
  if (v.is_list() &&
      (v.list_data().kind == ListKind::List || v.list_data().kind == ListKind::Tuple)) {
    std::vector<Value> items;
    for (const Value& item : v.items()) items.push_back(sorted_dicts(item));
    return Value::list(std::move(items), v.list_data().kind);
  }
  return v;
}

Value f_pprint(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "pprint", {});
  return str_value(repr(sorted_dicts(v)));
}

Value f_random(Interp& in, const Value& v, CallArgs& args) {
  bind_args(args, "random", {});
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No random item, sequence was empty.");
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return items[rng() % items.size()];
}

Value select_reject(Interp& in, const Value& v, CallArgs& args, bool select, bool lookup_attr) {
  if (!truthy(v)) return make_iterator({});
  std::vector<Value> items = in.iterate(v);
  size_t off = 0;
  AttrGetter get;
  if (lookup_attr) {
    if (args.pos.empty()) fail(ErrorKind::Runtime, "Missing parameter for attribute name");
    get.parts = attribute_parts(args.pos[0]);
    off = 1;
  }
  const bool have_test = args.pos.size() > off;
  std::string test;
  if (have_test) {
    if (!args.pos[off].is_str()) fail(ErrorKind::Runtime, "test name must be a string");
    test = args.pos[off].str();
  }
  CallArgs rest;
  if (have_test)
    rest.pos.assign(args.pos.begin() + static_cast<ptrdiff_t>(off) + 1, args.pos.end());
  rest.kw = args.kw;
  std::vector<Value> out;
  for (const Value& item : items) {
    const Value x = lookup_attr ? get(in, item) : item;
    bool r;
    if (have_test) {
      CallArgs copy = rest;
      r = in.apply_test(test, x, copy);
    } else {
      r = truthy(x);
    }
    if (r == select) out.push_back(item);
  }
  return make_iterator(std::move(out));
}

Value f_select(Interp& in, const Value& v, CallArgs& a) {
  return select_reject(in, v, a, true, false);
}
Value f_reject(Interp& in, const Value& v, CallArgs& a) {
  return select_reject(in, v, a, false, false);
}
Value f_selectattr(Interp& in, const Value& v, CallArgs& a) {
  return select_reject(in, v, a, true, true);
}
Value f_rejectattr(Interp& in, const Value& v, CallArgs& a) {
  return select_reject(in, v, a, false, true);
}

Value f_replace(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "replace", {"old", "new", "count"}, 2);
  CallArgs call;
  call.pos = {Value::string(soft_str(*a[0])), Value::string(soft_str(*a[1]))};
  if (a[2] && !a[2]->is_none()) call.pos.push_back(*a[2]);
  return call_method(in, Value::string(soft_str(v)), "replace", call);
}

Value f_reverse(Interp& in, const Value& v, CallArgs& args) {
  bind_args(args, "reverse", {});
  if (v.is_str()) {
    std::u32string u = utf8_decode(v.str());
    std::reverse(u.begin(), u.end());
    return str_value(utf8_encode(u));
  }
  std::vector<Value> items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.is_list()) {
    switch (v.list_data().kind) {
      case ListKind::List: return make_iterator(std::move(items), "list_reverseiterator");
      case ListKind::Tuple: return make_iterator(std::move(items), "reversed");
      case ListKind::Range: return make_iterator(std::move(items), "range_iterator");
      default: return make_iterator(std::move(items), "dict_reverseiterator");
    }
  }
  if (v.is_dict()) return make_iterator(std::move(items), "dict_reversekeyiterator");
  if (v.is_undefined()) return make_iterator(std::move(items), "reversed");
  return Value::list(std::move(items));
}

double round_half_even(double x, int64_t digits) {
  if (digits == 0) return std::nearbyint(x);
  if (digits > 0) {
    if (digits > 300) return x;
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(digits, 340)), x);
    return std::strtod(buf, nullptr);
  }
  const double p = std::pow(10.0, static_cast<double>(-digits));
  if (!std::isfinite(p)) return 0.0 * x;
  return std::nearbyint(x / p) * p;
}

Value f_round(Interp&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "round", {"precision", "method"});
  const int64_t precision = arg_int(a[0], 0, "round");
  const std::string method = a[1] ? arg_str(a[1], "common", "round") : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    fail(ErrorKind::Runtime, "method must be common, ceil or floor");
  }
  if (!v.is_number()) {
    if (v.is_undefined() && method != "common") fail_undefined(v);
    failf(ErrorKind::Type, "type {} doesn't define __round__ method", type_name(v));
  }
  if (method == "common") {
    if (v.is_integral()) {
      if (precision >= 0) return Value::integer(v.as_int());
      const double r = round_half_even(static_cast<double>(v.as_int()), precision);
      return Value::integer(static_cast<int64_t>(r));
    }
    const double x = v.as_float();
    if (!std::isfinite(x)) return Value::number(x);
    return Value::number(round_half_even(x, precision));
  }
  const double p = std::pow(10.0, static_cast<double>(precision));
  const double x = v.to_double() * p;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value f_safe(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "safe", {});
  return Value::string(soft_str(v), true);
}

Value f_slice(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "slice", {"slices", "fill_with"}, 1);
  const int64_t slices = arg_int(a[0], 1, "slice");
  std::vector<Value> seq = in.iterate(v);
  if (slices <= 0) fail(ErrorKind::Value, "slices must be positive");
  in.charge(static_cast<uint64_t>(slices));
  const auto length = static_cast<int64_t>(seq.size());
  const int64_t per = length / slices, extra = length % slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t n = 0; n < slices; ++n) {
    const int64_t start = offset + n * per;
    if (n < extra) ++offset;
    const int64_t end = offset + (n + 1) * per;
    std::vector<Value> tmp(seq.begin() + start, seq.begin() + end);
    if (a[1] && !a[1]->is_none() && n >= extra) tmp.push_back(*a[1]);
    out.push_back(Value::list(std::move(tmp)));
  }
  return make_iterator(std::move(out));
}

Value f_sort(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "sort", {"reverse", "case_sensitive", "attribute"});
  const bool reverse = arg_bool(a[0], false);
  const bool cs = arg_bool(a[1], false);
  std::vector<AttrGetter> getters;
  if (a[2] && a[2]->is_str()) {
    const std::string& s = a[2]->str();
    size_t start = 0;
    while (true) {
      const size_t comma = s.find(',', start);
      getters.push_back(
          {attribute_parts(Value::string(
               s.substr(start, comma == std::string::npos ? std::string::npos : comma - start))),
           !cs});
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    getters.push_back({a[2] ? attribute_parts(*a[2]) : std::vector<Value>{}, !cs});
  }
  std::vector<Value> items = in.iterate(v);
  in.charge(items.size() * 4);
  std::vector<Value> keyed;
  for (size_t i = 0; i < items.size(); ++i) {
    keyed.push_back(Value::tuple(
        {sort_key_list(in, items[i], getters), Value::integer(static_cast<int64_t>(i))}));
  }
  py_sort(keyed, [&](const Value& x, const Value& y) {
    return reverse ? less_than(y.items()[0], x.items()[0]) : less_than(x.items()[0], y.items()[0]);
  });
  std::vector<Value> out;
  for (const Value& k : keyed) out.push_back(items[static_cast<size_t>(k.items()[1].as_int())]);
  return Value::list(std::move(out));
}

Value f_string(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "string", {});
  if (v.is_str()) return v;
  return str_value(soft_str(v));
}

std::string html_unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const std::string ent = s.substr(i + 1, semi - i - 1);
    static const std::unordered_map<std::string, std::string> kNamed = {
        {"amp", "&"},   {"lt", "<"},   {"gt", ">"},
        {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}};
    if (auto it = kNamed.find(ent); it != kNamed.end()) {
      out += it->second;
      i = semi;
    } else if (ent.size() > 1 && ent[0] == '#') {
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      char* end = nullptr;
      const long cp = std::strtol(ent.c_str() + (hex ? 2 : 1), &end, hex ? 16 : 10);
      if (end && *end == 0 && cp > 0 && cp <= 0x10FFFF) {
        utf8_append(out, static_cast<char32_t>(cp));
        i = semi;
      } else {
        out += s[i];
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

Value f_striptags(Interp& in, const Value& v, CallArgs& args) {
  bind_args(args, "striptags", {});
  std::string s = soft_str(v);
  std::string no_comments;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 4, "<!--") == 0) {
      const size_t e = s.find("-->", i + 4);
      if (e != std::string::npos) {
        i = e + 3;
        continue;
      }
    }
    no_comments += s[i++];
  }
  std::string no_tags;
  for (size_t i = 0; i < no_comments.size();) {
    if (no_comments[i] == '<') {
      const size_t e = no_comments.find('>', i + 1);
      if (e != std::string::npos) {
        i = e + 1;
        continue;
      }
    }
    no_tags += no_comments[i++];
  }
  CallArgs none;
  Value parts = call_method(in, Value::string(no_tags), "split", none);
  std::string joined;
  for (size_t i = 0; i < parts.items().size(); ++i) {
    if (i) joined += ' ';
    joined += parts.items()[i].str();
  }
  return str_value(html_unescape(joined));
}

Value f_sum(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "sum", {"attribute", "start"});
  Value total = a[1] ? *a[1] : Value::integer(0);
  AttrGetter get{a[0] ? attribute_parts(*a[0]) : std::vector<Value>{}};
  for (const Value& item : in.iterate(v)) {
    total = in.binary(BinOp::Add, total, a[0] ? get(in, item) : item);
  }
  return total;
}

std::vector<std::string> title_split(const std::string& s) {
  // re.split(r"([-\s({\[<]+)", s): words and separator runs, in order.
  std::vector<std::string> out;
  const std::u32string t = utf8_decode(s);
  auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c);
  };
  size_t i = 0;
  while (i < t.size()) {
    size_t j = i;
    const bool sep = is_sep(t[i]);
    while (j < t.size() && is_sep(t[j]) == sep) ++j;
    out.push_back(utf8_encode(t.substr(i, j - i)));
    i = j;
  }
  return out;
}

Value f_title(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "title", {});
  std::string out;
  for (const std::string& item : title_split(soft_str(v))) {
    size_t k = 0;
    utf8_next(item, k);
    out += py_upper(item.substr(0, k)) + py_lower(item.substr(k));
  }
  return str_value(std::move(out));
}

Value f_trim(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "trim", {"chars"});
  CallArgs call;
  if (a[0]) call.pos.push_back(*a[0]);
  return call_method(in, Value::string(soft_str(v)), "strip", call);
}

Value f_truncate(Interp&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "truncate", {"length", "killwords", "end", "leeway"});
  const int64_t length = arg_int(a[0], 255, "truncate");
  const bool killwords = arg_bool(a[1], false);
  const std::u32string end = utf8_decode(a[2] ? arg_str(a[2], "...", "truncate") : "...");
  const int64_t leeway = arg_int(a[3], 5, "truncate");
  if (length < static_cast<int64_t>(end.size())) {
    failf(ErrorKind::Runtime, "expected length >= {}, got {}", end.size(), length);
  }
  if (leeway < 0) failf(ErrorKind::Runtime, "expected leeway >= 0, got {}", leeway);
  if (!v.is_str()) {
    // jinja2 calls len() and slices the value itself: only short sized values pass through.
    const std::optional<int64_t> n = py_len(v);
    if (!n) failf(ErrorKind::Type, "object of type '{}' has no len()", type_name(v));
    if (*n <= length + leeway) return v;
    failf(ErrorKind::Type, "truncate: cannot truncate a '{}'", type_name(v));
  }
  const std::u32string s = utf8_decode(soft_str(v));
  if (static_cast<int64_t>(s.size()) <= length + leeway) return str_value(utf8_encode(s));
  const size_t keep = static_cast<size_t>(length) - end.size();
  std::u32string head = s.substr(0, keep);
  if (!killwords) {
    const size_t sp = head.rfind(U' ');
    if (sp != std::u32string::npos) head = head.substr(0, sp);
  }
  return str_value(utf8_encode(head + end));
}

Value f_unique(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "unique", {"case_sensitive", "attribute"});
  AttrGetter get{a[1] ? attribute_parts(*a[1]) : std::vector<Value>{}, !arg_bool(a[0], false)};
  std::unordered_set<std::string> seen;
  std::vector<Value> out;
  for (const Value& item : in.iterate(v)) {
    if (seen.insert(hash_key(get(in, item))).second) out.push_back(item);
  }
  return make_iterator(std::move(out));
}

std::string url_quote(const std::string& s, bool for_qs) {
  std::string out;
  for (unsigned char c : s) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-' || c == '~' || (!for_qs && c == '/');
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  if (for_qs) {
    std::string r;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out.compare(i, 3, "%20") == 0) {
        r += '+';
        i += 2;
      } else {
        r += out[i];
      }
    }
    return r;
  }
  return out;
}

Value f_urlencode(Interp& in, const Value& v, CallArgs& args) {
  bind_args(args, "urlencode", {});
  if (v.is_str() || !(v.is_list() || v.is_dict() || v.is_object()))
    return str_value(url_quote(soft_str(v), false));
  std::vector<Value> pairs;
  if (v.is_dict()) {
    for (const auto& [k, val] : v.dict().items()) pairs.push_back(Value::tuple({k, val}));
  } else {
    pairs = in.iterate(v);
  }
  std::string out;
  for (size_t i = 0; i < pairs.size(); ++i) {
    std::vector<Value> kv = in.iterate(pairs[i]);
    if (kv.size() != 2) fail(ErrorKind::Value, "urlencode expects key/value pairs");
    if (i) out += '&';
    out += url_quote(soft_str(kv[0]), true) + "=" + url_quote(soft_str(kv[1]), true);
  }
  return str_value(std::move(out));
}

Value f_urlize(Interp&, const Value&, CallArgs&) {
  fail(ErrorKind::Runtime, "the urlize filter is not supported");
}

Value f_wordcount(Interp&, const Value& v, CallArgs& args) {
  bind_args(args, "wordcount", {});
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(soft_str(v))) {
    const bool w = py_isword(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

// textwrap.wrap(line, width, expand_tabs=False, replace_whitespace=False,
// break_long_words, break_on_hyphens) for one line, as jinja2's wordwrap calls it.
std::vector<std::u32string> textwrap(const std::u32string& text, size_t width, bool break_long,
                                     bool break_on_hyphens) {
  auto ws = [](char32_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  // Chunks: runs of whitespace, and words (split after hyphens inside words).
  std::vector<std::u32string> chunks;
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    const bool space = ws(text[i]);
    while (j < text.size() && ws(text[j]) == space) ++j;
    std::u32string run = text.substr(i, j - i);
    if (!space && break_on_hyphens) {
      size_t start = 0;
      for (size_t k = 1; k + 1 < run.size(); ++k) {
        if (run[k] == '-' && py_isalnum(run[k - 1]) && py_isalpha(run[k + 1])) {
          chunks.push_back(run.substr(start, k + 1 - start));
          start = k + 1;
        }
      }
      run = run.substr(start);
    }
    chunks.push_back(std::move(run));
    i = j;
  }
  auto blank = [&](const std::u32string& c) { return std::all_of(c.begin(), c.end(), ws); };
  std::vector<std::u32string> lines;
  std::reverse(chunks.begin(), chunks.end());
  while (!chunks.empty()) {
    std::vector<std::u32string> cur;
    size_t cur_len = 0;
    // Whitespace starting a line is dropped, except at the very beginning of the text.
    if (blank(chunks.back()) && !lines.empty()) chunks.pop_back();
    while (!chunks.empty() && cur_len + chunks.back().size() <= width) {
      cur_len += chunks.back().size();
      cur.push_back(std::move(chunks.back()));
      chunks.pop_back();
    }
    if (!chunks.empty() && chunks.back().size() > width) {
      // _handle_long_word
      const size_t space_left = width < 1 ? 1 : width - cur_len;
      if (break_long) {
        std::u32string& chunk = chunks.back();
        size_t end = space_left;
        if (break_on_hyphens && chunk.size() > space_left) {
          const size_t hyphen =
              space_left > 0 ? chunk.rfind(U'-', space_left - 1) : std::u32string::npos;
          if (hyphen != std::u32string::npos && hyphen > 0 &&
              std::any_of(chunk.begin(), chunk.begin() + static_cast<ptrdiff_t>(hyphen),
                          [](char32_t c) { return c != '-'; })) {
            end = hyphen + 1;
          }
        }
        cur.push_back(chunk.substr(0, end));
        chunk = chunk.substr(end);
      } else if (cur.empty()) {
        cur.push_back(std::move(chunks.back()));
        chunks.pop_back();
      }
    }
    if (!cur.empty() && blank(cur.back())) cur.pop_back();
    if (!cur.empty()) {
      std::u32string line;
      for (const auto& c : cur) line += c;
      lines.push_back(std::move(line));
    }
  }
  return lines;
}

Value f_wordwrap(Interp& in, const Value& v, CallArgs& args) {
  auto a =
      bind_args(args, "wordwrap", {"width", "break_long_words", "wrapstring", "break_on_hyphens"});
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_str())
    failf(ErrorKind::Type, "'{}' object has no attribute 'splitlines'", type_name(v));
  const int64_t width = arg_int(a[0], 79, "wordwrap");
  if (width <= 0) failf(ErrorKind::Value, "invalid width {} (must be > 0)", width);
  const bool break_long = arg_bool(a[1], true);
  const std::string wrap = a[2] && !a[2]->is_none() ? soft_str(*a[2]) : "\n";
  const bool hyphens = arg_bool(a[3], true);
  std::string out;
  bool first_line = true;
  for (const std::string& line : py_splitlines(v.str(), false)) {
    if (!first_line) out += wrap;
    first_line = false;
    in.charge(line.size() / 8 + 1);
    const auto wrapped =
        textwrap(utf8_decode(line), static_cast<size_t>(width), break_long, hyphens);
    for (size_t k = 0; k < wrapped.size(); ++k) {
      if (k) out += wrap;
      out += utf8_encode(wrapped[k]);
      in.check_size(out.size());
    }
  }
  return str_value(std::move(out));
}

Value f_xmlattr(Interp&, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "xmlattr", {"autospace"});
  if (!v.is_dict()) failf(ErrorKind::Type, "'{}' object has no attribute 'items'", type_name(v));
  std::string rv;
  for (const auto& [k, val] : v.dict().items()) {
    if (val.is_none() || val.is_undefined()) continue;
    const std::string key = soft_str(k);
    for (char c : key) {
      if (c == ' ' || c == '/' || c == '>' || c == '=' || (c >= '\t' && c <= '\r')) {
        failf(ErrorKind::Value, "Invalid character in attribute name: {}", str_repr(key));
      }
    }
    if (!rv.empty()) rv += ' ';
    rv += html_escape(key) + "=\"" + html_escape(soft_str(val)) + "\"";
  }
  if (arg_bool(a[0], true) && !rv.empty()) rv = " " + rv;
  return str_value(std::move(rv));
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False).
Value f_tojson(Interp& in, const Value& v, CallArgs& args) {
  auto a = bind_args(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = arg_bool(a[0], false);
  if (a[1] && !a[1]->is_none()) {
    if (a[1]->is_str()) {
      o.indent = a[1]->str();
    } else if (a[1]->is_integral()) {
      o.indent =
          std::string(static_cast<size_t>(std::clamp<int64_t>(a[1]->as_int(), 0, 1 << 20)), ' ');
    } else {
      failf(ErrorKind::Type, "can't multiply sequence by non-int of type '{}'", type_name(*a[1]));
    }
    o.item_separator = ",";
  }
  if (a[2] && !a[2]->is_none()) {
    std::vector<Value> seps = in.iterate(*a[2]);
    if (seps.size() != 2 || !seps[0].is_str() || !seps[1].is_str()) {
      fail(ErrorKind::Value, "separators must be a pair of strings");
    }
    o.item_separator = seps[0].str();
    o.key_separator = seps[1].str();
  }
  o.sort_keys = arg_bool(a[3], false);
  o.max_bytes = in.options().max_output_bytes;
  return str_value(dump_json(v, o));
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

constexpr FilterEntry kFilters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", f_filesizeformat},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_forceescape},
    {"format", f_format},
    {"groupby", f_groupby},
    {"indent", f_indent},
    {"int", f_int},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"items", f_items},
    {"map", f_map},
    {"min", f_min},
    {"max", f_max},
    {"pprint", f_pprint},
    {"random", f_random},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", f_slice},
    {"sort", f_sort},
    {"string", f_string},
    {"striptags", f_striptags},
    {"sum", f_sum},
    {"title", f_title},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"urlencode", f_urlencode},
    {"urlize", f_urlize},
    {"wordcount", f_wordcount},
    {"wordwrap", f_wordwrap},
    {"xmlattr", f_xmlattr},
    {"tojson", f_tojson},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& e : kFilters) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace ollmlx::tmpl
