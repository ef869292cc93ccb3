// jinja2's built-in tests (`x is defined`, `x is string`, ...), with Python's type rules:
// bool counts as a number, an Undefined is iterable, a sequence and callable.
#include "template/builtins.h"
#include "template/failure.h"
#include "template/interp.h"
#include "template/objects.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

namespace {

const Value& one_arg(CallArgs& args, std::string_view name) {
  auto a = bind_args(args, name, {"other"}, 1);
  return *a[0];
}

void no_args(CallArgs& args, std::string_view name) { bind_args(args, name, {}); }

bool t_defined(Interp&, const Value& v, CallArgs& a) {
  return no_args(a, "defined"), !v.is_undefined();
}
bool t_undefined(Interp&, const Value& v, CallArgs& a) {
  return no_args(a, "undefined"), v.is_undefined();
}
bool t_none(Interp&, const Value& v, CallArgs& a) { return no_args(a, "none"), v.is_none(); }
bool t_boolean(Interp&, const Value& v, CallArgs& a) {
  return no_args(a, "boolean"), v.kind() == Kind::Bool;
}
bool t_true(Interp&, const Value& v, CallArgs& a) {
  return no_args(a, "true"), v.kind() == Kind::Bool && v.as_bool();
}
bool t_false(Interp&, const Value& v, CallArgs& a) {
  return no_args(a, "false"), v.kind() == Kind::Bool && !v.as_bool();
}
bool t_integer(Interp&, const Value& v, CallArgs& a) {
  return no_args(a, "integer"), v.kind() == Kind::Int;
}
bool t_float(Interp&, const Value& v, CallArgs& a) {
  return no_args(a, "float"), v.kind() == Kind::Float;
}
bool t_number(Interp&, const Value& v, CallArgs& a) { return no_args(a, "number"), v.is_number(); }
bool t_string(Interp&, const Value& v, CallArgs& a) { return no_args(a, "string"), v.is_str(); }
bool t_mapping(Interp&, const Value& v, CallArgs& a) { return no_args(a, "mapping"), v.is_dict(); }

bool t_sequence(Interp&, const Value& v, CallArgs& a) {
  no_args(a, "sequence");
  if (v.is_undefined() || v.is_str() || v.is_dict()) return true;
  if (v.is_list()) {
    const ListKind k = v.list_data().kind;
    return k == ListKind::List || k == ListKind::Tuple || k == ListKind::Range;
  }
  return false;
}

bool t_iterable(Interp&, const Value& v, CallArgs& a) {
  no_args(a, "iterable");
  if (v.is_undefined() || v.is_str() || v.is_list() || v.is_dict()) return true;
  if (v.is_object()) {
    const std::string t = v.object()->type_name();
    return t == "LoopContext" || dynamic_cast<Iterator*>(v.object()) != nullptr;
  }
  return false;
}

bool t_callable(Interp&, const Value& v, CallArgs& a) {
  no_args(a, "callable");
  return v.is_undefined() || (v.is_object() && v.object()->callable());
}

bool t_odd(Interp& in, const Value& v, CallArgs& a) {
  no_args(a, "odd");
  return equal(in.binary(BinOp::Mod, v, Value::integer(2)), Value::integer(1));
}

bool t_even(Interp& in, const Value& v, CallArgs& a) {
  no_args(a, "even");
  return equal(in.binary(BinOp::Mod, v, Value::integer(2)), Value::integer(0));
}

bool t_divisibleby(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(a, "divisibleby", {"num"}, 1);
  return equal(in.binary(BinOp::Mod, v, *b[0]), Value::integer(0));
}

bool t_lower(Interp& in, const Value& v, CallArgs& a) {
  no_args(a, "lower");
  CallArgs none;
  return truthy(call_method(in, Value::string(to_str(v)), "islower", none));
}

bool t_upper(Interp& in, const Value& v, CallArgs& a) {
  no_args(a, "upper");
  CallArgs none;
  return truthy(call_method(in, Value::string(to_str(v)), "isupper", none));
}

bool t_filter(Interp&, const Value& v, CallArgs& a) {
  no_args(a, "filter");
  return v.is_str() && find_filter(v.str()) != nullptr;
}

bool t_test(Interp&, const Value& v, CallArgs& a) {
  no_args(a, "test");
  return v.is_str() && find_test(v.str()) != nullptr;
}

bool t_sameas(Interp&, const Value& v, CallArgs& a) {
  const Value& o = one_arg(a, "sameas");
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::Undefined: return v.identity() == o.identity();
    case Kind::None: return true;
    case Kind::Bool: return v.as_bool() == o.as_bool();
    case Kind::Int: return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Kind::Float: return false;
    default: return v.identity() == o.identity();
  }
}

bool t_escaped(Interp&, const Value& v, CallArgs& a) {
  no_args(a, "escaped");
  return v.is_str() && v.markup();
}

bool t_in(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(a, "in", {"seq"}, 1);
  return in.contains(*b[0], v);
}

bool t_eq(Interp&, const Value& v, CallArgs& a) { return equal(v, one_arg(a, "eq")); }
bool t_ne(Interp&, const Value& v, CallArgs& a) { return !equal(v, one_arg(a, "ne")); }
bool t_gt(Interp&, const Value& v, CallArgs& a) { return compare(v, one_arg(a, "gt"), ">") == 1; }
bool t_lt(Interp&, const Value& v, CallArgs& a) { return compare(v, one_arg(a, "lt"), "<") == -1; }
bool t_ge(Interp&, const Value& v, CallArgs& a) {
  const int c = compare(v, one_arg(a, "ge"), ">=");
  return c == 1 || c == 0;
}
bool t_le(Interp&, const Value& v, CallArgs& a) {
  const int c = compare(v, one_arg(a, "le"), "<=");
  return c == -1 || c == 0;
}

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

constexpr TestEntry kTests[] = {
    {"odd", t_odd},
    {"even", t_even},
    {"divisibleby", t_divisibleby},
    {"defined", t_defined},
    {"undefined", t_undefined},
    {"filter", t_filter},
    {"test", t_test},
    {"none", t_none},
    {"boolean", t_boolean},
    {"false", t_false},
    {"true", t_true},
    {"integer", t_integer},
    {"float", t_float},
    {"lower", t_lower},
    {"upper", t_upper},
    {"string", t_string},
    {"mapping", t_mapping},
    {"number", t_number},
    {"sequence", t_sequence},
    {"iterable", t_iterable},
    {"callable", t_callable},
    {"sameas", t_sameas},
    {"escaped", t_escaped},
    {"in", t_in},
    {"==", t_eq},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"!=", t_ne},
    {"ne", t_ne},
    {">", t_gt},
    {"gt", t_gt},
    {"greaterthan", t_gt},
    {"ge", t_ge},
    {">=", t_ge},
    {"<", t_lt},
    {"lt", t_lt},
    {"lessthan", t_lt},
    {"<=", t_le},
    {"le", t_le},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& e : kTests) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace ollmlx::tmpl
