// Value construction and the Python semantics every part of the engine shares: truthiness,
// str()/repr(), ==, ordering, hashing and len().
#include "template/value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "template/failure.h"
#include "template/pyformat.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

// ---- construction ----

Value Value::undefined(std::string message, bool security) {
  Value v;
  v.data_ = std::make_shared<const UndefinedInfo>(UndefinedInfo{std::move(message), security});
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}

Value Value::number(double d) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = d;
  return v;
}

Value Value::string(std::string s, bool markup) {
  Value v;
  v.kind_ = Kind::Str;
  v.data_ = std::make_shared<const StrData>(StrData{std::move(s), markup});
  return v;
}

Value Value::list(std::vector<Value> items, ListKind kind) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->kind = kind;
  return list(std::move(data));
}

Value Value::list(std::shared_ptr<const ListData> data) {
  if (data->items.size() > kMaxItems)
    failf(ErrorKind::Limit, "list longer than {} items", kMaxItems);
  int depth = 0;
  for (const Value& item : data->items) depth = std::max(depth, item.depth());
  if (depth + 1 != data->depth) {
    if (depth + 1 > kMaxValueDepth) fail(ErrorKind::Limit, "value nesting too deep");
    auto copy = std::make_shared<ListData>(*data);
    copy->depth = depth + 1;
    data = std::move(copy);
  }
  Value v;
  v.kind_ = Kind::List;
  v.data_ = std::move(data);
  return v;
}

Value Value::dict(std::shared_ptr<const DictData> data) {
  if (data->depth > kMaxValueDepth) fail(ErrorKind::Limit, "value nesting too deep");
  if (data->size() > kMaxItems) failf(ErrorKind::Limit, "dict larger than {} items", kMaxItems);
  Value v;
  v.kind_ = Kind::Dict;
  v.data_ = std::move(data);
  return v;
}

Value Value::object(std::shared_ptr<Object> obj) {
  Value v;
  v.kind_ = Kind::Object;
  v.obj_ = std::move(obj);
  return v;
}

double Value::to_double() const {
  switch (kind_) {
    case Kind::Bool: return b_ ? 1.0 : 0.0;
    case Kind::Int: return static_cast<double>(i_);
    case Kind::Float: return f_;
    default: return 0.0;
  }
}

int Value::depth() const {
  if (kind_ == Kind::List) return list_data().depth;
  if (kind_ == Kind::Dict) return dict().depth;
  return 0;
}

// ---- dict ----

const Value* DictData::find(std::string_view key) const {
  auto it = str_index_.find(std::string(key));
  return it == str_index_.end() ? nullptr : &items_[it->second].second;
}

const Value* DictData::find(const Value& key) const {
  if (key.is_str()) return find(std::string_view(key.str()));
  for (const auto& [k, v] : items_) {
    if (!k.is_str() && equal(k, key)) return &v;
  }
  return nullptr;
}

void DictData::set(Value key, Value value) {
  depth = std::max({depth, key.depth() + 1, value.depth() + 1});
  if (key.is_str()) {
    auto [it, inserted] = str_index_.emplace(key.str(), items_.size());
    if (!inserted) {
      items_[it->second].second = std::move(value);
      return;
    }
    items_.emplace_back(std::move(key), std::move(value));
    return;
  }
  for (auto& [k, v] : items_) {
    if (!k.is_str() && equal(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

// ---- objects ----

namespace {
thread_local std::vector<Value>* g_pending = nullptr;
thread_local std::vector<const void*> g_repr_stack;
constexpr size_t kMaxReprDepth = 2 * kMaxValueDepth;
}  // namespace

void release_values(std::vector<Value>&& values) {
  if (g_pending) {
    // Inside an outer release: queue, the outer loop frees them.
    for (Value& v : values) g_pending->push_back(std::move(v));
    values.clear();
    return;
  }
  std::vector<Value> queue = std::move(values);
  g_pending = &queue;
  while (!queue.empty()) {
    Value v = std::move(queue.back());
    queue.pop_back();
    // `v` is destroyed here; nested releases append to `queue`.
  }
  g_pending = nullptr;
}

ReprGuard::ReprGuard(const void* obj) {
  for (const void* p : g_repr_stack) recursive_ |= p == obj;
  if (g_repr_stack.size() >= kMaxReprDepth)
    fail(ErrorKind::Limit, "value nesting too deep to print");
  g_repr_stack.push_back(obj);
}

ReprGuard::~ReprGuard() { g_repr_stack.pop_back(); }

std::string Object::repr() const { return fmt::format("<{} object>", type_name()); }

Value Object::call(Interp&, CallArgs&) {
  failf(ErrorKind::Type, "'{}' object is not callable", type_name());
}

std::optional<Value> Object::getattr(Interp&, const std::string&) { return std::nullopt; }

std::optional<std::vector<Value>> Object::iterate(Interp&) { return std::nullopt; }

// ---- Python semantics ----

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return v.as_bool();
    case Kind::Int: return v.as_int() != 0;
    case Kind::Float: return v.as_float() != 0.0;
    case Kind::Str: return !v.str().empty();
    case Kind::List: return !v.items().empty();
    case Kind::Dict: return v.dict().size() != 0;
    case Kind::Object: return v.object()->truthy();
  }
  return false;
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return v.markup() ? "Markup" : "str";
    case Kind::List:
      switch (v.list_data().kind) {
        case ListKind::List: return "list";
        case ListKind::Tuple: return "tuple";
        case ListKind::DictItems: return "dict_items";
        case ListKind::DictKeys: return "dict_keys";
        case ListKind::DictValues: return "dict_values";
        case ListKind::Range: return "range";
      }
      return "list";
    case Kind::Dict: return "dict";
    case Kind::Object: return v.object()->type_name();
  }
  return "object";
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

namespace {

void append_repr(std::string& out, const Value& v);

void append_items(std::string& out, const std::vector<Value>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, items[i]);
  }
}

void append_repr(std::string& out, const Value& v) {
  std::optional<ReprGuard> guard;
  if (v.is_list() || v.is_dict()) guard.emplace(v.identity());
  if (guard && guard->recursive()) {
    // Python's reprlib-style marker for a container already being printed.
    const ListKind k = v.is_list() ? v.list_data().kind : ListKind::List;
    out += v.is_dict() ? "{...}" : k == ListKind::Tuple ? "(...)" : "[...]";
    return;
  }
  switch (v.kind()) {
    case Kind::Str:
      if (v.markup()) {
        out += fmt::format("Markup({})", str_repr(v.str()));
      } else {
        out += str_repr(v.str());
      }
      return;
    case Kind::List: {
      const ListData& l = v.list_data();
      switch (l.kind) {
        case ListKind::List:
          out += '[';
          append_items(out, l.items);
          out += ']';
          return;
        case ListKind::Tuple:
          out += '(';
          append_items(out, l.items);
          if (l.items.size() == 1) out += ',';
          out += ')';
          return;
        case ListKind::DictItems:
        case ListKind::DictKeys:
        case ListKind::DictValues:
          out += type_name(v) + "([";
          append_items(out, l.items);
          out += "])";
          return;
        case ListKind::Range:
          if (l.range[2] == 1) {
            out += fmt::format("range({}, {})", l.range[0], l.range[1]);
          } else {
            out += fmt::format("range({}, {}, {})", l.range[0], l.range[1], l.range[2]);
          }
          return;
      }
      return;
    }
    case Kind::Dict: {
      out += '{';
      bool first = true;
      for (const auto& [k, val] : v.dict().items()) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, k);
        out += ": ";
        append_repr(out, val);
      }
      out += '}';
      return;
    }
    default: out += repr(v);
  }
}

}  // namespace

std::string repr(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "None";
    case Kind::Bool: return v.as_bool() ? "True" : "False";
    case Kind::Int: return std::to_string(v.as_int());
    case Kind::Float: return float_repr(v.as_float());
    case Kind::Object: return v.object()->repr();
    default: {
      std::string out;
      append_repr(out, v);
      return out;
    }
  }
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "";
    case Kind::Str: return v.str();
    default: return repr(v);
  }
}

namespace {

// Exact comparison of an int with a double.
int cmp_int_double(int64_t i, double d) {
  if (std::isnan(d)) return kUnordered;
  const long double li = static_cast<long double>(i);
  const long double ld = static_cast<long double>(d);
  return li < ld ? -1 : li > ld ? 1 : 0;
}

int cmp_numbers(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    const int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_integral()) return cmp_int_double(a.as_int(), b.as_float());
  if (b.is_integral()) {
    const int r = cmp_int_double(b.as_int(), a.as_float());
    return r == kUnordered ? r : -r;
  }
  const double x = a.as_float(), y = b.as_float();
  if (std::isnan(x) || std::isnan(y)) return kUnordered;
  return x < y ? -1 : x > y ? 1 : 0;
}

}  // namespace

bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return cmp_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::Str: return a.str() == b.str();
    case Kind::List: {
      const ListData& x = a.list_data();
      const ListData& y = b.list_data();
      if (x.kind != y.kind || x.items.size() != y.items.size()) return false;
      if (&x == &y) return true;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!equal(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Kind::Dict: {
      const DictData& x = a.dict();
      const DictData& y = b.dict();
      if (x.size() != y.size()) return false;
      if (&x == &y) return true;
      for (const auto& [k, v] : x.items()) {
        const Value* other = y.find(k);
        if (!other || !equal(v, *other)) return false;
      }
      return true;
    }
    case Kind::Object: return a.object() == b.object();
    default: return false;
  }
}

int compare(const Value& a, const Value& b, std::string_view op) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) return cmp_numbers(a, b);
  if (a.is_str() && b.is_str()) {
    const int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list() && a.list_data().kind == b.list_data().kind &&
      (a.list_data().kind == ListKind::List || a.list_data().kind == ListKind::Tuple)) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equal(x[i], y[i])) return compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  failf(ErrorKind::Type, "'{}' not supported between instances of '{}' and '{}'", op, type_name(a),
        type_name(b));
}

std::string hash_key(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "U";
    case Kind::None: return "N";
    case Kind::Bool:
    case Kind::Int: return fmt::format("I{}", v.as_int());
    case Kind::Float: {
      const double d = v.as_float();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) {
        return fmt::format("I{}", static_cast<int64_t>(d));
      }
      return fmt::format("F{}", float_repr(d));
    }
    case Kind::Str: return fmt::format("S{}", v.str());
    case Kind::List:
      if (v.list_data().kind == ListKind::Range) return fmt::format("R{}", repr(v));
      if (v.list_data().kind == ListKind::Tuple) {
        std::string k = "T(";
        for (const Value& item : v.items()) {
          k += hash_key(item);
          k += '\x1f';
        }
        return k + ")";
      }
      break;
    case Kind::Object: return fmt::format("O{}", static_cast<const void*>(v.object()));
    default: break;
  }
  failf(ErrorKind::Type, "unhashable type: '{}'", type_name(v));
}

void py_sort(std::vector<Value>& items,
             const std::function<bool(const Value&, const Value&)>& less) {
  const size_t n = items.size();
  std::vector<Value> buf(n);
  // Bottom-up merge sort: runs of width w merged pairwise; stable (ties take the left run).
  for (size_t w = 1; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      const size_t mid = std::min(lo + w, n), hi = std::min(lo + 2 * w, n);
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) buf[k++] = less(items[j], items[i]) ? items[j++] : items[i++];
      while (i < mid) buf[k++] = items[i++];
      while (j < hi) buf[k++] = items[j++];
    }
    items.swap(buf);
  }
}

std::optional<int64_t> py_len(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return 0;
    case Kind::Str: return static_cast<int64_t>(utf8_length(v.str()));
    case Kind::List: return static_cast<int64_t>(v.items().size());
    case Kind::Dict: return static_cast<int64_t>(v.dict().size());
    case Kind::Object: return v.object()->length();
    default: return std::nullopt;
  }
}

void fail_undefined(const Value& v) {
  const UndefinedInfo* info = v.undefined_info();
  if (!info) fail(ErrorKind::Undefined, "value is undefined");
  fail(info->security ? ErrorKind::Security : ErrorKind::Undefined, info->message);
}

}  // namespace ollmlx::tmpl
