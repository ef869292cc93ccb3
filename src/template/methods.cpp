// Python methods of str, dict, list and tuple that templates call (message.content.strip(),
// tool.items(), ...), with Python's argument rules. Mutating methods exist but are refused the
// way jinja2's ImmutableSandboxedEnvironment refuses them (SecurityError when called).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "template/builtins.h"
#include "template/failure.h"
#include "template/interp.h"
#include "template/objects.h"
#include "template/strformat.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

namespace {

constexpr std::array kStrMethods = {
    "capitalize",  "casefold",   "center",     "count",        "endswith",     "expandtabs",
    "find",        "format",     "format_map", "index",        "isalnum",      "isalpha",
    "isascii",     "isdecimal",  "isdigit",    "isidentifier", "islower",      "isnumeric",
    "isprintable", "isspace",    "istitle",    "isupper",      "join",         "ljust",
    "lower",       "lstrip",     "partition",  "removeprefix", "removesuffix", "replace",
    "rfind",       "rindex",     "rjust",      "rpartition",   "rsplit",       "rstrip",
    "split",       "splitlines", "startswith", "strip",        "swapcase",     "title",
    "upper",       "zfill"};
constexpr std::array kDictMethods = {"copy", "get", "items", "keys", "values"};
constexpr std::array kDictUnsafe = {"clear", "pop", "popitem", "setdefault", "update"};
constexpr std::array kListMethods = {"copy", "count", "index"};
constexpr std::array kListUnsafe = {"append", "clear",  "extend",  "insert",
                                    "pop",    "remove", "reverse", "sort"};
constexpr std::array kTupleMethods = {"count", "index"};

template <size_t N>
bool in(const std::array<const char*, N>& names, const std::string& name) {
  for (const char* n : names) {
    if (name == n) return true;
  }
  return false;
}

using U32 = std::u32string;

U32 u(const std::string& s) { return utf8_decode(s); }
std::string s8(const U32& s) { return utf8_encode(s); }

bool is_cased(char32_t c) { return py_isupper(c) || py_islower(c); }

// Python slice-style clamping of start/end arguments.
void clamp_range(const Value* start, const Value* end, size_t len, size_t& b, size_t& e) {
  const auto n = static_cast<int64_t>(len);
  auto fix = [&](const Value* v, int64_t dflt) {
    int64_t i = arg_int(v, dflt, "slice indices");
    if (i < 0) i = std::max<int64_t>(0, i + n);
    return std::min(i, n);
  };
  b = static_cast<size_t>(fix(start, 0));
  e = static_cast<size_t>(fix(end, n));
}

U32 strip_chars(const Value* chars, bool& whitespace) {
  whitespace = !chars || chars->is_none();
  if (whitespace) return {};
  if (!chars->is_str()) failf(ErrorKind::Type, "strip arg must be None or str");
  return u(chars->str());
}

std::string do_strip(const std::string& s, const Value* chars, bool left, bool right) {
  bool ws = false;
  const U32 set = strip_chars(chars, ws);
  const U32 t = u(s);
  auto strip_it = [&](char32_t c) { return ws ? py_isspace(c) : set.find(c) != U32::npos; };
  size_t b = 0, e = t.size();
  if (left) {
    while (b < e && strip_it(t[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(t[e - 1])) --e;
  }
  return s8(t.substr(b, e - b));
}

Value str_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::string(std::move(p)));
  return Value::list(std::move(items));
}

std::vector<std::string> do_split(Interp& in, const std::string& str, const Value* sepv,
                                  int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  in.charge(str.size() / 16 + 1);
  if (!sepv || sepv->is_none()) {
    const U32 t = u(str);
    std::vector<U32> parts;
    if (!from_right) {
      size_t i = 0;
      while (true) {
        while (i < t.size() && py_isspace(t[i])) ++i;
        if (i >= t.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
          parts.push_back(t.substr(i));  // the remainder keeps its trailing whitespace
          break;
        }
        size_t j = i;
        while (j < t.size() && !py_isspace(t[j])) ++j;
        if (parts.size() >= kMaxItems)
          failf(ErrorKind::Limit, "split: more than {} parts", kMaxItems);
        parts.push_back(t.substr(i, j - i));
        i = j;
      }
    } else {
      size_t e = t.size();
      while (true) {
        while (e > 0 && py_isspace(t[e - 1])) --e;
        if (e == 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
          parts.push_back(t.substr(0, e));  // the remainder keeps its leading whitespace
          break;
        }
        size_t j = e;
        while (j > 0 && !py_isspace(t[j - 1])) --j;
        if (parts.size() >= kMaxItems)
          failf(ErrorKind::Limit, "split: more than {} parts", kMaxItems);
        parts.push_back(t.substr(j, e - j));
        e = j;
      }
      std::reverse(parts.begin(), parts.end());
    }
    for (auto& p : parts) out.push_back(s8(p));
    return out;
  }
  if (!sepv->is_str()) failf(ErrorKind::Type, "must be str or None, not {}", type_name(*sepv));
  const std::string& sep = sepv->str();
  if (sep.empty()) fail(ErrorKind::Value, "empty separator");
  if (!from_right) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t k = str.find(sep, pos);
      if (k == std::string::npos) break;
      if (out.size() >= kMaxItems) failf(ErrorKind::Limit, "split: more than {} parts", kMaxItems);
      out.push_back(str.substr(pos, k - pos));
      pos = k + sep.size();
    }
    out.push_back(str.substr(pos));
    return out;
  }
  size_t end = str.size();
  std::vector<std::string> rev;
  while (maxsplit < 0 || static_cast<int64_t>(rev.size()) < maxsplit) {
    if (end < sep.size()) break;
    const size_t k = str.rfind(sep, end - sep.size());
    if (k == std::string::npos) break;
    if (rev.size() >= kMaxItems) failf(ErrorKind::Limit, "split: more than {} parts", kMaxItems);
    rev.push_back(str.substr(k + sep.size(), end - k - sep.size()));
    end = k;
  }
  rev.push_back(str.substr(0, end));
  std::reverse(rev.begin(), rev.end());
  return rev;
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

}  // namespace

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  const U32 t = u(s);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < t.size()) {
    size_t j = i;
    while (j < t.size() && !is_line_break(t[j])) ++j;
    size_t eol = j;
    if (j < t.size()) {
      eol = (t[j] == '\r' && j + 1 < t.size() && t[j + 1] == '\n') ? j + 2 : j + 1;
    }
    if (out.size() >= kMaxItems)
      failf(ErrorKind::Limit, "splitlines: more than {} lines", kMaxItems);
    out.push_back(s8(t.substr(i, (keepends ? eol : j) - i)));
    i = eol;
  }
  return out;
}

std::string py_title(const std::string& s) {
  const U32 t = u(s);
  U32 out;
  bool prev_cased = false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (prev_cased) {
      py_append_lower_at(out, t, i);
    } else {
      py_append_upper(out, t[i]);
    }
    prev_cased = is_cased(t[i]);
  }
  return s8(out);
}

std::string py_capitalize(const std::string& s) {
  const U32 t = u(s);
  U32 out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i == 0) {
      py_append_upper(out, t[i]);
    } else {
      py_append_lower_at(out, t, i);
    }
  }
  return s8(out);
}

std::string py_center(Interp& in, const std::string& s, int64_t width, char32_t fill) {
  const auto len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return s;
  in.check_size(static_cast<size_t>(width) * 4);
  const int64_t marg = width - len;
  const int64_t left = marg / 2 + (marg & width & 1);
  std::string f;
  utf8_append(f, fill);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += f;
  out += s;
  for (int64_t i = 0; i < marg - left; ++i) out += f;
  return out;
}

std::optional<Value> builtin_attribute(const Value& self, const std::string& name) {
  auto bound = [&] { return Value::object(std::make_shared<BoundMethod>(self, name)); };
  auto unsafe = [&] {
    return Value::undefined(
        fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, type_name(self)),
        true);
  };
  switch (self.kind()) {
    case Kind::Str:
      if (in(kStrMethods, name)) return bound();
      break;
    case Kind::Dict:
      if (in(kDictMethods, name)) return bound();
      if (in(kDictUnsafe, name)) return unsafe();
      break;
    case Kind::List:
      switch (self.list_data().kind) {
        case ListKind::List:
          if (in(kListMethods, name)) return bound();
          if (in(kListUnsafe, name)) return unsafe();
          break;
        case ListKind::Tuple:
        case ListKind::Range: {
          if (in(kTupleMethods, name)) return bound();
          const ListData& l = self.list_data();
          for (size_t i = 0; i < l.fields.size() && i < l.items.size(); ++i) {
            if (l.fields[i] == name) return l.items[i];
          }
          break;
        }
        default: break;
      }
      break;
    case Kind::Int:
    case Kind::Bool:
      if (name == "real" || name == "numerator") return Value::integer(self.as_int());
      if (name == "imag") return Value::integer(0);
      if (name == "denominator") return Value::integer(1);
      break;
    case Kind::Float:
      if (name == "real") return self;
      if (name == "imag") return Value::number(0.0);
      if (name == "is_integer") return bound();
      break;
    default: break;
  }
  return std::nullopt;
}

namespace {

Value str_method(Interp& in, const Value& self, const std::string& name, CallArgs& args) {
  const std::string& s = self.str();
  auto no_args = [&] { bind_args(args, name, {}); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    auto a = bind_args(args, name, {"chars"});
    return Value::string(do_strip(s, a[0], name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    auto a = bind_args(args, name, {"sep", "maxsplit"});
    return str_list(do_split(in, s, a[0], arg_int(a[1], -1, "maxsplit"), name == "rsplit"));
  }
  if (name == "splitlines") {
    auto a = bind_args(args, name, {"keepends"});
    return str_list(py_splitlines(s, arg_bool(a[0], false)));
  }
  if (name == "startswith" || name == "endswith") {
    auto a = bind_args(args, name, {"prefix", "start", "end"}, 1);
    const U32 t = u(s);
    size_t b = 0, e = 0;
    clamp_range(a[1], a[2], t.size(), b, e);
    const U32 part = b <= e ? t.substr(b, e - b) : U32();
    std::vector<Value> options;
    if (a[0]->is_str()) {
      options.push_back(*a[0]);
    } else if (a[0]->is_sequence_kind(ListKind::Tuple)) {
      options = a[0]->items();
    } else {
      failf(ErrorKind::Type, "{} first arg must be str or a tuple of str, not {}", name,
            type_name(*a[0]));
    }
    if (b > e) return Value::boolean(false);
    for (const Value& o : options) {
      if (!o.is_str()) {
        failf(ErrorKind::Type, "tuple for {} must only contain str, not {}", name, type_name(o));
      }
      const U32 p = u(o.str());
      if (p.size() > part.size()) continue;
      const bool hit = name == "startswith"
                           ? part.compare(0, p.size(), p) == 0
                           : part.compare(part.size() - p.size(), p.size(), p) == 0;
      if (hit) return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "replace") {
    auto a = bind_args(args, name, {"old", "new", "count"}, 2);
    const std::string old = arg_str(a[0], "", "replace() argument 1");
    const std::string rep = arg_str(a[1], "", "replace() argument 2");
    int64_t count = arg_int(a[2], -1, "count");
    std::string out;
    if (old.empty()) {
      const U32 t = u(s);
      in.check_size(s.size() + rep.size() * (t.size() + 1));
      for (size_t i = 0; i <= t.size(); ++i) {
        if (count != 0) {
          out += rep;
          --count;
        }
        if (i < t.size()) utf8_append(out, t[i]);
      }
      return Value::string(std::move(out));
    }
    size_t pos = 0;
    while (count != 0) {
      const size_t k = s.find(old, pos);
      if (k == std::string::npos) break;
      out.append(s, pos, k - pos);
      out += rep;
      in.check_size(out.size());
      pos = k + old.size();
      --count;
    }
    out.append(s, pos);
    in.check_size(out.size());
    return Value::string(std::move(out));
  }
  if (name == "upper") return no_args(), Value::string(py_upper(s));
  if (name == "lower" || name == "casefold") return no_args(), Value::string(py_lower(s));
  if (name == "title") return no_args(), Value::string(py_title(s));
  if (name == "capitalize") return no_args(), Value::string(py_capitalize(s));
  if (name == "swapcase") {
    no_args();
    const U32 t = u(s);
    U32 out;
    for (size_t i = 0; i < t.size(); ++i) {
      if (py_isupper(t[i])) {
        py_append_lower_at(out, t, i);
      } else if (py_islower(t[i])) {
        py_append_upper(out, t[i]);
      } else {
        out += t[i];
      }
    }
    return Value::string(s8(out));
  }
  if (name == "format") return Value::string(brace_format(in, s, args));
  if (name == "format_map") {
    auto a = bind_args(args, name, {"mapping"}, 1);
    CallArgs kw;
    if (!a[0]->is_dict()) failf(ErrorKind::Type, "format_map() argument must be a mapping");
    for (const auto& [k, v] : a[0]->dict().items()) {
      if (k.is_str()) kw.kw.emplace_back(k.str(), v);
    }
    return Value::string(brace_format(in, s, kw));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    auto a = bind_args(args, name, {"sub", "start", "end"}, 1);
    const U32 t = u(s);
    const U32 sub = u(arg_str(a[0], "", name));
    size_t b = 0, e = 0;
    clamp_range(a[1], a[2], t.size(), b, e);
    in.charge(t.size() / 16 + 1);
    if (name == "count") {
      if (b > e) return Value::integer(0);
      if (sub.empty()) return Value::integer(static_cast<int64_t>(e - b + 1));
      int64_t n = 0;
      for (size_t k = t.find(sub, b); k != U32::npos && k + sub.size() <= e;
           k = t.find(sub, k + sub.size()))
        ++n;
      return Value::integer(n);
    }
    int64_t found = -1;
    if (b <= e && sub.size() <= e - b) {
      const U32 part = t.substr(b, e - b);
      const size_t k = (name == "find" || name == "index") ? part.find(sub) : part.rfind(sub);
      if (k != U32::npos) found = static_cast<int64_t>(k + b);
    }
    if (found < 0 && (name == "index" || name == "rindex"))
      fail(ErrorKind::Value, "substring not found");
    return Value::integer(found);
  }
  if (name == "join") {
    auto a = bind_args(args, name, {"iterable"}, 1);
    std::string out;
    size_t i = 0;
    for (const Value& v : in.iterate(*a[0])) {
      if (!v.is_str()) {
        failf(ErrorKind::Type, "sequence item {}: expected str instance, {} found", i,
              type_name(v));
      }
      if (i++) out += s;
      out += v.str();
      in.check_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name.rfind("is", 0) == 0) {
    no_args();
    const U32 t = u(s);
    if (name == "isascii") return Value::boolean(is_ascii(s));
    if (name == "isprintable") {
      return Value::boolean(
          std::all_of(t.begin(), t.end(), [](char32_t c) { return py_isprintable(c); }));
    }
    if (t.empty()) return Value::boolean(false);
    auto all = [&](auto pred) { return Value::boolean(std::all_of(t.begin(), t.end(), pred)); };
    if (name == "isdigit" || name == "isnumeric") return all(py_isdigit);
    if (name == "isdecimal") return all([](char32_t c) { return c >= '0' && c <= '9'; });
    if (name == "isalpha") return all(py_isalpha);
    if (name == "isalnum") return all(py_isalnum);
    if (name == "isspace") return all(py_isspace);
    if (name == "isidentifier") {
      if (!(py_isalpha(t[0]) || t[0] == '_')) return Value::boolean(false);
      return all([](char32_t c) { return py_isalnum(c) || c == '_'; });
    }
    bool any_cased = false, upper = true, lower = true;
    for (char32_t c : t) {
      if (py_isupper(c)) any_cased = true, lower = false;
      if (py_islower(c)) any_cased = true, upper = false;
    }
    if (name == "isupper") return Value::boolean(any_cased && upper);
    if (name == "islower") return Value::boolean(any_cased && lower);
    // istitle: uppercase only after uncased, lowercase only after cased.
    bool prev_cased = false, ok = false;
    for (char32_t c : t) {
      if (py_isupper(c)) {
        if (prev_cased) return Value::boolean(false);
        prev_cased = ok = true;
      } else if (py_islower(c)) {
        if (!prev_cased) return Value::boolean(false);
        prev_cased = ok = true;
      } else {
        prev_cased = false;
      }
    }
    return Value::boolean(ok);
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    auto a = bind_args(args, name, {"width", "fillchar"}, 1);
    const int64_t width = arg_int(a[0], 0, name);
    const U32 fill = u(arg_str(a[1], " ", name));
    if (fill.size() != 1)
      fail(ErrorKind::Type, "The fill character must be exactly one character long");
    if (name == "center") return Value::string(py_center(in, s, width, fill[0]));
    const auto len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return Value::string(s);
    in.check_size(static_cast<size_t>(width) * 4);
    std::string pad;
    for (int64_t i = len; i < width; ++i) utf8_append(pad, fill[0]);
    return Value::string(name == "ljust" ? s + pad : pad + s);
  }
  if (name == "zfill") {
    auto a = bind_args(args, name, {"width"}, 1);
    const int64_t width = arg_int(a[0], 0, name);
    const auto len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return Value::string(s);
    in.check_size(static_cast<size_t>(width));
    const bool sign = !s.empty() && (s[0] == '+' || s[0] == '-');
    std::string out = sign ? s.substr(0, 1) : "";
    out.append(static_cast<size_t>(width - len), '0');
    out += sign ? s.substr(1) : s;
    return Value::string(std::move(out));
  }
  if (name == "partition" || name == "rpartition") {
    auto a = bind_args(args, name, {"sep"}, 1);
    const std::string sep = arg_str(a[0], "", name);
    if (sep.empty()) fail(ErrorKind::Value, "empty separator");
    const size_t k = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (k == std::string::npos) {
      return name == "partition" ? Value::tuple({self, Value::string(""), Value::string("")})
                                 : Value::tuple({Value::string(""), Value::string(""), self});
    }
    return Value::tuple({Value::string(s.substr(0, k)), Value::string(sep),
                         Value::string(s.substr(k + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    auto a = bind_args(args, name, {"affix"}, 1);
    const std::string fix = arg_str(a[0], "", name);
    if (name == "removeprefix" && s.compare(0, fix.size(), fix) == 0)
      return Value::string(s.substr(fix.size()));
    if (name == "removesuffix" && !fix.empty() && s.size() >= fix.size() &&
        s.compare(s.size() - fix.size(), fix.size(), fix) == 0) {
      return Value::string(s.substr(0, s.size() - fix.size()));
    }
    return Value::string(s);
  }
  if (name == "expandtabs") {
    auto a = bind_args(args, name, {"tabsize"});
    const int64_t tab = arg_int(a[0], 8, name);
    U32 out;
    size_t col = 0;
    for (char32_t c : u(s)) {
      if (c == '\t') {
        if (tab > 0) {
          const size_t n = static_cast<size_t>(tab) - col % static_cast<size_t>(tab);
          in.check_size(out.size() + n);
          out.append(n, U' ');
          col += n;
        }
      } else {
        out += c;
        col = (c == '\n' || c == '\r') ? 0 : col + 1;
      }
    }
    return Value::string(s8(out));
  }
  failf(ErrorKind::Runtime, "str.{} is not supported", name);
}

Value dict_method(Interp& in, const Value& self, const std::string& name, CallArgs& args) {
  const DictData& d = self.dict();
  if (name == "get") {
    auto a = bind_args(args, name, {"key", "default"}, 1);
    hash_key(*a[0]);
    const Value* v = d.find(*a[0]);
    if (v) return *v;
    return a[1] ? *a[1] : Value::none();
  }
  bind_args(args, name, {});
  in.charge(d.size());
  if (name == "copy") return self;
  std::vector<Value> out;
  out.reserve(d.size());
  for (const auto& [k, v] : d.items()) {
    if (name == "items") {
      out.push_back(Value::tuple({k, v}));
    } else {
      out.push_back(name == "keys" ? k : v);
    }
  }
  const ListKind kind = name == "items"  ? ListKind::DictItems
                        : name == "keys" ? ListKind::DictKeys
                                         : ListKind::DictValues;
  return Value::list(std::move(out), kind);
}

Value list_method(Interp& in, const Value& self, const std::string& name, CallArgs& args) {
  const auto& items = self.items();
  if (name == "copy") {
    bind_args(args, name, {});
    return Value::list(items, ListKind::List);
  }
  in.charge(items.size());
  if (name == "count") {
    auto a = bind_args(args, name, {"value"}, 1);
    return Value::integer(
        std::count_if(items.begin(), items.end(), [&](const Value& v) { return equal(v, *a[0]); }));
  }
  auto a = bind_args(args, name, {"value", "start", "stop"}, 1);
  size_t b = 0, e = 0;
  clamp_range(a[1], a[2], items.size(), b, e);
  for (size_t i = b; i < e; ++i) {
    if (equal(items[i], *a[0])) return Value::integer(static_cast<int64_t>(i));
  }
  failf(ErrorKind::Value, "{} is not in {}", repr(*a[0]), type_name(self));
}

}  // namespace

Value call_method(Interp& in, const Value& self, const std::string& name, CallArgs& args) {
  switch (self.kind()) {
    case Kind::Str: return str_method(in, self, name, args);
    case Kind::Dict: return dict_method(in, self, name, args);
    case Kind::List: return list_method(in, self, name, args);
    case Kind::Float:
      if (name == "is_integer") {
        bind_args(args, name, {});
        const double d = self.as_float();
        return Value::boolean(std::isfinite(d) && d == std::floor(d));
      }
      break;
    default: break;
  }
  failf(ErrorKind::Runtime, "'{}' object has no method '{}'", type_name(self), name);
}

}  // namespace ollmlx::tmpl
