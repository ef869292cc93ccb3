// Expression evaluation and the Python operations behind it: attribute and item lookup the
// way jinja2's sandbox does it (getattr first for `.`, item first for `[]`), calls, iteration,
// membership, arithmetic with Python's int/float/str rules, and comparison chains.
#include <fmt/format.h>

#include <cmath>
#include <optional>

#include "template/builtins.h"
#include "template/failure.h"
#include "template/interp.h"
#include "template/objects.h"
#include "template/pyformat.h"
#include "template/strformat.h"
#include "template/unicode.h"

namespace ollmlx::tmpl {

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent_.get()) {
    for (const auto& [k, v] : s->vars_) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Scope::set(const std::string& name, Value value) {
  for (auto& [k, v] : vars_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars_.emplace_back(name, std::move(value));
}

NestingGuard::NestingGuard(Interp& in) : in_(in) {
  if (++in_.nesting_ > in_.options_.max_nesting) {
    --in_.nesting_;
    fail(ErrorKind::Limit, "template nesting too deep");
  }
}

Interp::Interp(const RenderOptions& options, std::shared_ptr<const DictData> context)
    : options_(options),
      context_(std::move(context)),
      globals_(std::make_shared<DictData>()),
      root_(std::make_shared<Scope>(nullptr)) {
  add_globals(*globals_);
}

Interp::~Interp() {
  for (auto& w : tracked_) {
    if (auto obj = w.lock()) obj->release();
  }
}

void Interp::track(const std::shared_ptr<Object>& obj) {
  if (tracked_.size() >= 1024 && tracked_.size() == tracked_.capacity()) {
    std::erase_if(tracked_, [](const std::weak_ptr<Object>& w) { return w.expired(); });
  }
  tracked_.push_back(obj);
}

void Interp::charge(uint64_t steps) {
  steps_ += steps;
  if (steps_ > options_.max_steps) {
    failf(ErrorKind::Limit, "template exceeded its evaluation budget ({} steps)",
          options_.max_steps);
  }
}

void Interp::check_size(size_t bytes) const {
  if (bytes > options_.max_output_bytes) {
    failf(ErrorKind::Limit, "template output exceeds {} bytes", options_.max_output_bytes);
  }
}

Value Interp::lookup(const std::string& name, const ScopePtr& scope) const {
  if (const Value* v = scope->find(name)) return *v;
  if (const Value* v = context_->find(name)) return *v;
  if (const Value* v = globals_->find(name)) return *v;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

namespace {

// jinja2's has_safe_repr: what its optimizer accepts as a folded constant.
bool safe_constant(const Value& v) {
  switch (v.kind()) {
    case Kind::None:
    case Kind::Bool:
    case Kind::Int:
    case Kind::Float:
    case Kind::Str: return true;
    case Kind::List: {
      const ListKind k = v.list_data().kind;
      if (k == ListKind::Range) return true;
      if (k != ListKind::List && k != ListKind::Tuple) return false;
      for (const Value& item : v.items()) {
        if (!safe_constant(item)) return false;
      }
      return true;
    }
    case Kind::Dict:
      for (const auto& [k, item] : v.dict().items()) {
        if (!safe_constant(k) || !safe_constant(item)) return false;
      }
      return true;
    default: return false;
  }
}

}  // namespace

std::optional<Value> Interp::try_fold(const Expr& e, const ScopePtr& scope) {
  folding_ = true;
  try {
    Value v = eval_node(e, scope);
    folding_ = false;
    return v;
  } catch (const Failure& f) {
    folding_ = false;
    if (f.kind == ErrorKind::Limit) throw;
    return std::nullopt;  // jinja2 leaves it to run time
  }
}

Value Interp::eval(const Expr& e, const ScopePtr& scope) {
  NestingGuard guard(*this);
  charge();
  try {
    if (e.fold && !folding_) {
      std::optional<Value> v = try_fold(e, scope);
      if (v && safe_constant(*v)) return std::move(*v);
    }
    return eval_node(e, scope);
  } catch (Failure& f) {
    if (f.pos == kNoPos) f.pos = e.pos;
    throw;
  }
}

Value Interp::eval_node(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::Const: return e.value;
    case ExprKind::Name: return lookup(e.name, scope);
    case ExprKind::List:
    case ExprKind::Tuple:
    case ExprKind::Dict: return eval_sequence(e, scope);
    case ExprKind::Getattr: return getattr(eval(*e.children[0], scope), e.name);
    case ExprKind::Getitem: {
      Value obj = eval(*e.children[0], scope);
      if (e.children[1]->kind == ExprKind::Slice) return eval_slice(obj, *e.children[1], scope);
      return getitem(obj, eval(*e.children[1], scope));
    }
    case ExprKind::Call: return eval_call(e, scope, nullptr);
    case ExprKind::Filter: return eval_filter_chain(e, scope, Value());
    case ExprKind::Test: {
      Value v = eval(*e.children[0], scope);
      CallArgs args = eval_args(e.call, scope);
      return Value::boolean(apply_test(e.name, v, args));
    }
    case ExprKind::Not: return Value::boolean(!truthy(eval(*e.children[0], scope)));
    case ExprKind::Neg:
    case ExprKind::Pos: return eval_unary(e, scope);
    case ExprKind::Binary: {
      Value a = eval(*e.children[0], scope);
      Value b = eval(*e.children[1], scope);
      if (e.op == BinOp::Pow && e.children[0]->constant && !e.children[1]->constant &&
          a.is_number() && (a.is_integral() ? a.as_int() < 0 : std::signbit(a.as_float()))) {
        return negative_base_pow(a, b);
      }
      return binary(e.op, a, b);
    }
    case ExprKind::Compare: return eval_compare(e, scope);
    case ExprKind::And: {
      Value a = eval(*e.children[0], scope);
      return truthy(a) ? eval(*e.children[1], scope) : a;
    }
    case ExprKind::Or: {
      Value a = eval(*e.children[0], scope);
      return truthy(a) ? a : eval(*e.children[1], scope);
    }
    case ExprKind::Concat: return eval_concat(e, scope);
    case ExprKind::Cond:
      if (truthy(eval(*e.children[0], scope))) return eval(*e.children[1], scope);
      if (e.children[2]) return eval(*e.children[2], scope);
      return Value::undefined(
          "the inline if-expression evaluated to false and no else section was defined.");
    case ExprKind::Slice:
    case ExprKind::NsRef: break;
  }
  fail(ErrorKind::Runtime, "invalid expression");
}

Value Interp::eval_sequence(const Expr& e, const ScopePtr& scope) {
  if (e.kind == ExprKind::Dict) {
    auto d = std::make_shared<DictData>();
    for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
      Value k = eval(*e.children[i], scope);
      hash_key(k);  // TypeError for unhashable keys
      d->set(std::move(k), eval(*e.children[i + 1], scope));
    }
    return Value::dict(std::move(d));
  }
  std::vector<Value> items;
  items.reserve(e.children.size());
  for (const auto& c : e.children) items.push_back(eval(*c, scope));
  return Value::list(std::move(items),
                     e.kind == ExprKind::Tuple ? ListKind::Tuple : ListKind::List);
}

Value Interp::eval_unary(const Expr& e, const ScopePtr& scope) {
  Value v = eval(*e.children[0], scope);
  if (v.is_undefined()) fail_undefined(v);
  const bool neg = e.kind == ExprKind::Neg;
  if (v.is_integral()) {
    const int64_t i = v.as_int();
    if (neg && i == INT64_MIN) fail(ErrorKind::Value, "integer overflow");
    return Value::integer(neg ? -i : i);
  }
  if (v.kind() == Kind::Float) return Value::number(neg ? -v.as_float() : v.as_float());
  failf(ErrorKind::Type, "bad operand type for unary {}: '{}'", neg ? '-' : '+', type_name(v));
}

// jinja2 writes a folded negative constant without parentheses into the Python it generates,
// so `-2 ** x` runs as -(2 ** x) when x is not constant (but as (-2) ** x when it is).
Value Interp::negative_base_pow(const Value& base, const Value& exponent) {
  auto negate = [](const Value& v) {
    if (v.is_integral()) {
      if (v.as_int() == INT64_MIN) fail(ErrorKind::Value, "integer overflow");
      return Value::integer(-v.as_int());
    }
    return Value::number(-v.as_float());
  };
  const Value r = binary(BinOp::Pow, negate(base), exponent);
  return r.is_number() ? negate(r) : r;
}

Value Interp::eval_concat(const Expr& e, const ScopePtr& scope) {
  std::string s;
  for (const auto& c : e.children) {
    s += to_str(eval(*c, scope));
    check_size(s.size());
  }
  return Value::string(std::move(s));
}

CallArgs Interp::eval_args(const CallSpec& spec, const ScopePtr& scope) {
  CallArgs args;
  for (const auto& a : spec.args) args.pos.push_back(eval(*a, scope));
  for (const auto& [k, v] : spec.kwargs) args.kw.emplace_back(k, eval(*v, scope));
  if (spec.dyn_args) {
    for (Value& v : iterate(eval(*spec.dyn_args, scope))) args.pos.push_back(std::move(v));
  }
  if (spec.dyn_kwargs) {
    Value d = eval(*spec.dyn_kwargs, scope);
    if (!d.is_dict())
      failf(ErrorKind::Type, "argument after ** must be a mapping, not {}", type_name(d));
    for (const auto& [k, v] : d.dict().items()) {
      if (!k.is_str()) fail(ErrorKind::Type, "keywords must be strings");
      args.kw.emplace_back(k.str(), v);
    }
  }
  return args;
}

Value Interp::eval_call(const Expr& e, const ScopePtr& scope, const Value* caller) {
  Value callee = eval(*e.children[0], scope);
  CallArgs args = eval_args(e.call, scope);
  if (caller) args.kw.emplace_back("caller", *caller);
  return call(callee, args);
}

Value Interp::eval_filter_chain(const Expr& e, const ScopePtr& scope, const Value& subject) {
  const Expr* inner = e.children[0].get();
  Value v;
  if (!inner) {
    v = subject;
  } else if (inner->kind == ExprKind::Filter && !subject.is_undefined()) {
    v = eval_filter_chain(*inner, scope, subject);
  } else {
    v = eval(*inner, scope);
  }
  CallArgs args = eval_args(e.call, scope);
  return apply_filter(e.name, v, args);
}

Value Interp::apply_filter(const std::string& name, const Value& v, CallArgs& args) {
  FilterFn fn = find_filter(name);
  if (!fn) failf(ErrorKind::Runtime, "No filter named '{}'.", name);
  return fn(*this, v, args);
}

bool Interp::apply_test(const std::string& name, const Value& v, CallArgs& args) {
  TestFn fn = find_test(name);
  if (!fn) failf(ErrorKind::Runtime, "No test named '{}'.", name);
  return fn(*this, v, args);
}

Value Interp::eval_compare(const Expr& e, const ScopePtr& scope) {
  Value left = eval(*e.children[0], scope);
  for (size_t i = 0; i < e.cmp_ops.size(); ++i) {
    Value right = eval(*e.children[i + 1], scope);
    bool ok = false;
    switch (e.cmp_ops[i]) {
      case CmpOp::Eq: ok = equal(left, right); break;
      case CmpOp::Ne: ok = !equal(left, right); break;
      case CmpOp::Lt: ok = compare(left, right, "<") == -1; break;
      case CmpOp::Le: {
        const int c = compare(left, right, "<=");
        ok = c == -1 || c == 0;
        break;
      }
      case CmpOp::Gt: ok = compare(left, right, ">") == 1; break;
      case CmpOp::Ge: {
        const int c = compare(left, right, ">=");
        ok = c == 1 || c == 0;
        break;
      }
      case CmpOp::In: ok = contains(right, left); break;
      case CmpOp::NotIn: ok = !contains(right, left); break;
    }
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

// ---- attribute / item access ----

Value Interp::getattr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::Undefined: fail_undefined(obj);
    case Kind::Object:
      if (auto v = obj.object()->getattr(*this, name)) return *v;
      break;
    case Kind::Dict:
      if (auto m = builtin_attribute(obj, name)) return *m;
      if (const Value* v = obj.dict().find(std::string_view(name))) return *v;
      break;
    default:
      if (auto m = builtin_attribute(obj, name)) return *m;
  }
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type_repr(obj), name));
}

namespace {

// Python index normalization; false when out of range.
bool normalize_index(int64_t& i, size_t size) {
  const auto n = static_cast<int64_t>(size);
  if (i < 0) i += n;
  return i >= 0 && i < n;
}

bool hashable(const Value& v) {
  if (v.is_dict()) return false;
  if (v.is_list()) {
    if (v.list_data().kind == ListKind::Range) return true;
    if (v.list_data().kind != ListKind::Tuple) return false;
    for (const Value& item : v.items()) {
      if (!hashable(item)) return false;
    }
  }
  return true;
}

}  // namespace

Value Interp::getitem(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::Undefined: fail_undefined(obj);
    case Kind::Dict:
      if (hashable(key)) {
        if (const Value* v = obj.dict().find(key)) return *v;
      }
      break;
    case Kind::List: {
      const ListKind k = obj.list_data().kind;
      if (key.is_integral() &&
          (k == ListKind::List || k == ListKind::Tuple || k == ListKind::Range)) {
        int64_t i = key.as_int();
        if (normalize_index(i, obj.items().size())) return obj.items()[static_cast<size_t>(i)];
      }
      break;
    }
    case Kind::Str:
      if (key.is_integral()) {
        const std::string& s = obj.str();
        int64_t i = key.as_int();
        if (is_ascii(s)) {
          if (normalize_index(i, s.size()))
            return Value::string(std::string(1, s[static_cast<size_t>(i)]));
        } else {
          const std::u32string u = utf8_decode(s);
          if (normalize_index(i, u.size())) {
            return Value::string(utf8_encode(std::u32string(1, u[static_cast<size_t>(i)])));
          }
        }
      }
      break;
    default: break;
  }
  if (key.is_str()) {
    if (obj.is_object()) {
      if (auto v = obj.object()->getattr(*this, key.str())) return *v;
    } else if (auto m = builtin_attribute(obj, key.str())) {
      return *m;
    }
    return Value::undefined(
        fmt::format("'{}' has no attribute '{}'", object_type_repr(obj), key.str()));
  }
  return Value::undefined(fmt::format("{} has no element {}", object_type_repr(obj), repr(key)));
}

Value Interp::eval_slice(const Value& obj, const Expr& slice, const ScopePtr& scope) {
  Value parts[3];
  for (int i = 0; i < 3; ++i) {
    if (slice.children[i])
      parts[i] = eval(*slice.children[i], scope);
    else
      parts[i] = Value::none();
  }
  // jinja2 compiles slices to a plain Python subscript (no sandbox getitem fallback), so
  // slicing anything but a sequence raises.
  if (obj.is_undefined()) fail_undefined(obj);
  const bool seq = obj.is_str() || (obj.is_list() && (obj.list_data().kind == ListKind::List ||
                                                      obj.list_data().kind == ListKind::Tuple ||
                                                      obj.list_data().kind == ListKind::Range));
  bool ints = true;
  for (const Value& p : parts) ints &= p.is_none() || p.is_integral();
  if (folding_ && (!seq || !ints)) {
    return Value::undefined(fmt::format("{} has no element slice({}, {}, {})",
                                        object_type_repr(obj), repr(parts[0]), repr(parts[1]),
                                        repr(parts[2])));
  }
  if (obj.is_dict()) fail(ErrorKind::Type, "unhashable type: 'slice'");
  if (!seq) failf(ErrorKind::Type, "'{}' object is not subscriptable", type_name(obj));
  for (const Value& p : parts) {
    if (p.is_undefined()) fail_undefined(p);
    if (!p.is_none() && !p.is_integral()) {
      fail(ErrorKind::Type, "slice indices must be integers or None or have an __index__ method");
    }
  }
  const int64_t step = parts[2].is_none() ? 1 : parts[2].as_int();
  if (step == 0) fail(ErrorKind::Value, "slice step cannot be zero");
  std::u32string u;
  const bool str = obj.is_str();
  const bool ascii = str && is_ascii(obj.str());
  if (str && !ascii) u = utf8_decode(obj.str());
  const auto len =
      static_cast<int64_t>(str ? (ascii ? obj.str().size() : u.size()) : obj.items().size());
  auto adjust = [&](const Value& v, int64_t dflt, bool is_stop) {
    if (v.is_none()) return dflt;
    int64_t i = v.as_int();
    if (i < 0) {
      i += len;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= len) {
      i = step < 0 ? len - 1 : len;
    }
    (void)is_stop;
    return i;
  };
  const int64_t start = adjust(parts[0], step < 0 ? len - 1 : 0, false);
  const int64_t stop = adjust(parts[1], step < 0 ? -1 : len, true);
  std::vector<int64_t> idx;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) idx.push_back(i);
  } else {
    for (int64_t i = start; i > stop; i += step) idx.push_back(i);
  }
  charge(idx.size());
  if (str) {
    std::string out;
    for (int64_t i : idx) {
      if (ascii)
        out += obj.str()[static_cast<size_t>(i)];
      else
        utf8_append(out, u[static_cast<size_t>(i)]);
    }
    return Value::string(std::move(out));
  }
  std::vector<Value> items;
  for (int64_t i : idx) items.push_back(obj.items()[static_cast<size_t>(i)]);
  const ListKind k = obj.list_data().kind == ListKind::Tuple ? ListKind::Tuple : ListKind::List;
  return Value::list(std::move(items), k);
}

Value Interp::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.is_object() && callee.object()->callable()) {
    charge();
    return callee.object()->call(*this, args);
  }
  failf(ErrorKind::Type, "'{}' object is not callable", type_name(callee));
}

std::vector<Value> Interp::iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::Str: {
      const std::string& s = v.str();
      charge(s.size());
      if (s.size() > kMaxItems && utf8_length(s) > kMaxItems) {
        failf(ErrorKind::Limit, "string too long to iterate ({} code points at most)", kMaxItems);
      }
      std::vector<Value> out;
      for (size_t i = 0; i < s.size();) {
        const size_t start = i;
        utf8_next(s, i);
        out.push_back(Value::string(s.substr(start, i - start)));
      }
      return out;
    }
    case Kind::List: charge(v.items().size()); return v.items();
    case Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& kv : v.dict().items()) keys.push_back(kv.first);
      charge(keys.size());
      return keys;
    }
    case Kind::Object:
      if (auto items = v.object()->iterate(*this)) {
        charge(items->size());
        return std::move(*items);
      }
      break;
    default: break;
  }
  failf(ErrorKind::Type, "'{}' object is not iterable", type_name(v));
}

bool Interp::contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined: return false;
    case Kind::Str:
      if (!item.is_str()) {
        failf(ErrorKind::Type, "'in <string>' requires string as left operand, not {}",
              type_name(item));
      }
      charge(container.str().size() / 16 + 1);
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
      charge(container.items().size());
      for (const Value& v : container.items()) {
        if (equal(v, item)) return true;
      }
      return false;
    case Kind::Dict:
      if (!hashable(item)) failf(ErrorKind::Type, "unhashable type: '{}'", type_name(item));
      return container.dict().find(item) != nullptr;
    case Kind::Object:
      if (auto items = container.object()->iterate(*this)) {
        for (const Value& v : *items) {
          if (equal(v, item)) return true;
        }
        return false;
      }
      break;
    default: break;
  }
  failf(ErrorKind::Type, "argument of type '{}' is not iterable", type_name(container));
}

// ---- arithmetic ----

namespace {

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::Add: return "+";
    case BinOp::Sub: return "-";
    case BinOp::Mul: return "*";
    case BinOp::Div: return "/";
    case BinOp::FloorDiv: return "//";
    case BinOp::Mod: return "%";
    case BinOp::Pow: return "** or pow()";
  }
  return "?";
}

[[noreturn]] void unsupported(BinOp op, const Value& a, const Value& b) {
  failf(ErrorKind::Type, "unsupported operand type(s) for {}: '{}' and '{}'", op_symbol(op),
        type_name(a), type_name(b));
}

[[noreturn]] void overflow() {
  fail(ErrorKind::Value, "integer overflow (template integers are 64-bit)");
}

double py_fmod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

double py_floordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div != 0) {
    double fl = std::floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return fl;
  }
  return std::copysign(0.0, a / b);
}

Value number_op(BinOp op, const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    const int64_t x = a.as_int(), y = b.as_int();
    int64_t r = 0;
    switch (op) {
      case BinOp::Add:
        if (__builtin_add_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      case BinOp::Sub:
        if (__builtin_sub_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      case BinOp::Mul:
        if (__builtin_mul_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      case BinOp::Div:
        if (y == 0) fail(ErrorKind::Value, "division by zero");
        return Value::number(static_cast<double>(x) / static_cast<double>(y));
      case BinOp::FloorDiv:
      case BinOp::Mod: {
        if (y == 0) fail(ErrorKind::Value, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) {
          if (op == BinOp::Mod) return Value::integer(0);
          overflow();
        }
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          q -= 1;
          m += y;
        }
        return Value::integer(op == BinOp::Mod ? m : q);
      }
      case BinOp::Pow: {
        if (y < 0) {
          if (x == 0) fail(ErrorKind::Value, "0.0 cannot be raised to a negative power");
          return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
        }
        int64_t result = 1, base = x, e = y;
        while (e > 0) {
          if (e & 1) {
            if (__builtin_mul_overflow(result, base, &result)) overflow();
          }
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value::integer(result);
      }
    }
  }
  const double x = a.to_double(), y = b.to_double();
  switch (op) {
    case BinOp::Add: return Value::number(x + y);
    case BinOp::Sub: return Value::number(x - y);
    case BinOp::Mul: return Value::number(x * y);
    case BinOp::Div:
      if (y == 0) fail(ErrorKind::Value, "float division by zero");
      return Value::number(x / y);
    case BinOp::FloorDiv:
      if (y == 0) fail(ErrorKind::Value, "float floor division by zero");
      return Value::number(py_floordiv(x, y));
    case BinOp::Mod:
      if (y == 0) fail(ErrorKind::Value, "float modulo");
      return Value::number(py_fmod(x, y));
    case BinOp::Pow:
      if (x == 0 && y < 0) fail(ErrorKind::Value, "0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) fail(ErrorKind::Value, "complex results are not supported");
      return Value::number(std::pow(x, y));
  }
  return Value::none();
}

}  // namespace

Value Interp::binary(BinOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) return number_op(op, a, b);
  switch (op) {
    case BinOp::Add:
      if (a.is_str() && b.is_str()) {
        check_size(a.str().size() + b.str().size());
        if (a.markup() || b.markup()) {
          const std::string l = a.markup() ? a.str() : html_escape(a.str());
          const std::string r = b.markup() ? b.str() : html_escape(b.str());
          return Value::string(l + r, true);
        }
        return Value::string(a.str() + b.str());
      }
      if (a.is_list() && b.is_list() && a.list_data().kind == b.list_data().kind &&
          (a.list_data().kind == ListKind::List || a.list_data().kind == ListKind::Tuple)) {
        if (a.items().size() + b.items().size() > kMaxItems) {
          failf(ErrorKind::Limit, "list longer than {} items", kMaxItems);
        }
        charge(a.items().size() + b.items().size());
        std::vector<Value> items = a.items();
        items.insert(items.end(), b.items().begin(), b.items().end());
        return Value::list(std::move(items), a.list_data().kind);
      }
      if (a.is_str() || (a.is_list() && (a.list_data().kind == ListKind::List ||
                                         a.list_data().kind == ListKind::Tuple))) {
        failf(ErrorKind::Type, "can only concatenate {} (not \"{}\") to {}", type_name(a),
              type_name(b), type_name(a));
      }
      unsupported(op, a, b);
    case BinOp::Mul: {
      const Value* seq = nullptr;
      const Value* count = nullptr;
      if ((a.is_str() || a.is_list()) && b.is_integral()) seq = &a, count = &b;
      if ((b.is_str() || b.is_list()) && a.is_integral()) seq = &b, count = &a;
      if (seq && (seq->is_str() || seq->list_data().kind == ListKind::List ||
                  seq->list_data().kind == ListKind::Tuple)) {
        const int64_t n = std::max<int64_t>(0, count->as_int());
        const size_t unit = seq->is_str() ? seq->str().size() : seq->items().size();
        const size_t cap = seq->is_str() ? options_.max_output_bytes : kMaxItems;
        if (unit != 0 && static_cast<uint64_t>(n) > cap / unit) {
          if (seq->is_str()) check_size(options_.max_output_bytes + 1);
          failf(ErrorKind::Limit, "list longer than {} items", kMaxItems);
        }
        charge(static_cast<uint64_t>(n) * (seq->is_str() ? 1 : unit) / 16 + 1);
        if (seq->is_str()) {
          std::string out;
          out.reserve(unit * static_cast<size_t>(n));
          for (int64_t i = 0; i < n; ++i) out += seq->str();
          return Value::string(std::move(out), seq->markup());
        }
        std::vector<Value> items;
        for (int64_t i = 0; i < n; ++i) {
          items.insert(items.end(), seq->items().begin(), seq->items().end());
        }
        return Value::list(std::move(items), seq->list_data().kind);
      }
      if ((a.is_str() || a.is_list()) && b.is_number()) {
        failf(ErrorKind::Type, "can't multiply sequence by non-int of type '{}'", type_name(b));
      }
      unsupported(op, a, b);
    }
    case BinOp::Mod:
      if (a.is_str()) {
        std::string s = percent_format(*this, a.str(), b);
        check_size(s.size());
        return Value::string(std::move(s));
      }
      unsupported(op, a, b);
    default: unsupported(op, a, b);
  }
}

}  // namespace ollmlx::tmpl
