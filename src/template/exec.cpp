// Statement execution: output, if/for/set, macros and call blocks, filter/with/block scopes,
// plus the `loop` and macro objects. Scoping follows jinja2: each loop iteration starts from
// the enclosing scope (assignments do not survive the iteration), macros see their defining
// scope, `if` has no scope of its own.
#include <fmt/format.h>

#include "template/failure.h"
#include "template/interp.h"
#include "template/objects.h"
#include "template/pyformat.h"

namespace ollmlx::tmpl {

std::string Interp::render(const Body& root) {
  std::string out;
  exec(root, root_, out);
  return out;
}

void Interp::append(std::string& out, std::string_view text) const {
  check_size(out.size() + text.size());
  out += text;
}

Flow Interp::exec(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& s : body) {
    const Flow f = exec_stmt(*s, scope, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Flow Interp::exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out) {
  NestingGuard guard(*this);
  charge();
  try {
    return exec_node(s, scope, out);
  } catch (Failure& f) {
    if (f.pos == kNoPos) f.pos = s.pos;
    throw;
  }
}

Flow Interp::exec_node(const Stmt& s, const ScopePtr& scope, std::string& out) {
  switch (s.kind) {
    case StmtKind::Data: append(out, s.text); return Flow::Normal;
    case StmtKind::Output: exec_output(s, scope, out); return Flow::Normal;
    case StmtKind::If:
      for (const auto& [test, body] : s.branches) {
        if (!test || truthy(eval(*test, scope))) return exec(body, scope, out);
      }
      return Flow::Normal;
    case StmtKind::For: return exec_for(s, scope, out, eval(*s.expr, scope), 0);
    case StmtKind::Set: assign(s.target, eval(*s.expr, scope), scope); return Flow::Normal;
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    default: return exec_block_stmt(s, scope, out);
  }
}

void Interp::exec_output(const Stmt& s, const ScopePtr& scope, std::string& out) {
  // jinja2 prints constant output evaluated at compile time, whatever its type; if that
  // fails it evaluates at run time.
  std::optional<Value> folded;
  if (s.expr->fold) folded = try_fold(*s.expr, scope);
  const Value v = folded ? std::move(*folded) : eval(*s.expr, scope);
  if (autoescape_ && !(v.is_str() && v.markup())) {
    append(out, html_escape(to_str(v)));
  } else if (v.is_str()) {
    append(out, v.str());
  } else {
    append(out, to_str(v));
  }
}

Flow Interp::exec_block_stmt(const Stmt& s, const ScopePtr& scope, std::string& out) {
  switch (s.kind) {
    case StmtKind::SetBlock: {
      auto inner = std::make_shared<Scope>(scope);
      std::string buf;
      const Flow f = exec(s.body, inner, buf);
      Value v = Value::string(std::move(buf));
      if (s.filter) v = eval_filter_chain(*s.filter, inner, v);
      assign(s.target, v, scope);
      return f;
    }
    case StmtKind::Macro: {
      auto macro = std::make_shared<Macro>(s, scope, s.text);
      track(macro);
      scope->set(s.text, Value::object(std::move(macro)));
      return Flow::Normal;
    }
    case StmtKind::CallBlock: {
      auto macro = std::make_shared<Macro>(s, scope, "caller");
      track(macro);
      const Value caller = Value::object(std::move(macro));
      append(out, to_str(eval_call(*s.expr, scope, &caller)));
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      auto inner = std::make_shared<Scope>(scope);
      std::string buf;
      const Flow f = exec(s.body, inner, buf);
      append(out, to_str(eval_filter_chain(*s.filter, inner, Value::string(std::move(buf)))));
      return f;
    }
    case StmtKind::With: {
      auto inner = std::make_shared<Scope>(scope);
      for (size_t i = 0; i < s.with_targets.size(); ++i) {
        assign(s.with_targets[i], eval(*s.with_values[i], scope), inner);
      }
      return exec(s.body, inner, out);
    }
    case StmtKind::Block: {
      auto inner = std::make_shared<Scope>(s.flag ? scope : root_);
      exec(s.body, inner, out);
      return Flow::Normal;
    }
    case StmtKind::Autoescape: {
      const bool saved = autoescape_;
      autoescape_ = truthy(eval(*s.expr, scope));
      const Flow f = exec(s.body, std::make_shared<Scope>(scope), out);
      autoescape_ = saved;
      return f;
    }
    case StmtKind::Scope: exec(s.body, std::make_shared<Scope>(scope), out); return Flow::Normal;
    case StmtKind::Forbidden:
      failf(ErrorKind::Security, "'{}' is not supported: templates cannot load other templates",
            s.text);
    default: fail(ErrorKind::Runtime, "invalid statement");
  }
}

Flow Interp::exec_for(const Stmt& s, const ScopePtr& scope, std::string& out, const Value& iterable,
                      int depth0) {
  std::vector<Value> items = iterate(iterable);
  if (s.cond) {
    std::vector<Value> kept;
    for (Value& item : items) {
      auto tmp = std::make_shared<Scope>(scope);
      assign(s.target, item, tmp);
      if (truthy(eval(*s.cond, tmp))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  auto loop = std::make_shared<LoopContext>(std::move(items), depth0, s, scope);
  track(loop);
  const Value loop_value = Value::object(loop);
  // jinja2 runs the else block unless some iteration reached the end of the body (an
  // iteration that ends in continue or break does not count).
  bool completed = false;
  for (size_t i = 0; i < loop->items().size(); ++i) {
    charge();
    auto iter_scope = std::make_shared<Scope>(scope);
    assign(s.target, loop->items()[i], iter_scope);
    iter_scope->set("loop", loop_value);
    loop->set_index(i);
    const Flow f = exec(s.body, iter_scope, out);
    if (f == Flow::Break) break;
    if (f == Flow::Normal) completed = true;
  }
  if (!completed && !s.else_body.empty())
    return exec(s.else_body, std::make_shared<Scope>(scope), out);
  return Flow::Normal;
}

std::string Interp::run_loop(const Stmt& loop, const ScopePtr& scope, const Value& iterable,
                             int depth0) {
  if (++call_depth_ > options_.max_call_depth) {
    --call_depth_;
    fail(ErrorKind::Limit, "recursive loop too deep");
  }
  std::string buf;
  try {
    exec_for(loop, scope, buf, iterable, depth0);
  } catch (...) {
    --call_depth_;
    throw;
  }
  --call_depth_;
  return buf;
}

void Interp::assign(const Target& t, const Value& v, const ScopePtr& scope) {
  switch (t.kind) {
    case Target::Kind::Name: scope->set(t.name, v); return;
    case Target::Kind::Tuple: {
      const std::vector<Value> items = iterate(v);
      if (items.size() > t.items.size()) {
        failf(ErrorKind::Value, "too many values to unpack (expected {})", t.items.size());
      }
      if (items.size() < t.items.size()) {
        failf(ErrorKind::Value, "not enough values to unpack (expected {}, got {})", t.items.size(),
              items.size());
      }
      for (size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i], scope);
      return;
    }
    case Target::Kind::NsAttr: {
      const Value ns = lookup(t.name, scope);
      auto* obj = ns.is_object() ? dynamic_cast<Namespace*>(ns.object()) : nullptr;
      if (!obj) fail(ErrorKind::Runtime, "cannot assign attribute on non-namespace object");
      obj->set(t.attr, v);
      return;
    }
  }
}

Value Interp::call_macro(const Macro& m, CallArgs& args) {
  if (!m.closure()) fail(ErrorKind::Runtime, "macro called after its template finished");
  if (++call_depth_ > options_.max_call_depth) {
    --call_depth_;
    failf(ErrorKind::Limit, "macro calls nested deeper than {}", options_.max_call_depth);
  }
  struct Release {
    int& depth;
    ~Release() { --depth; }
  } release{call_depth_};

  const Stmt& d = m.def();
  auto scope = std::make_shared<Scope>(m.closure());
  const size_t n = d.params.size();
  std::vector<bool> bound(n, false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.pos.size(); ++i) {
    if (i < n) {
      scope->set(d.params[i], args.pos[i]);
      bound[i] = true;
    } else if (d.catch_varargs) {
      varargs.push_back(args.pos[i]);
    } else {
      failf(ErrorKind::Type, "macro '{}' takes not more than {} argument(s)", m.name(), n);
    }
  }
  auto kwargs = std::make_shared<DictData>();
  Value caller = Value::undefined("No caller defined");
  for (const auto& [key, value] : args.kw) {
    size_t idx = 0;
    while (idx < n && d.params[idx] != key) ++idx;
    if (idx < n) {
      if (bound[idx])
        failf(ErrorKind::Type, "macro '{}' got multiple values for argument '{}'", m.name(), key);
      scope->set(key, value);
      bound[idx] = true;
    } else if (key == "caller" && d.uses_caller) {
      caller = value;
    } else if (d.catch_kwargs) {
      kwargs->set(Value::string(key), value);
    } else {
      failf(ErrorKind::Type, "macro '{}' takes no keyword argument '{}'", m.name(), key);
    }
  }
  const size_t first_default = n - d.defaults.size();
  for (size_t i = 0; i < n; ++i) {
    if (bound[i]) continue;
    if (i >= first_default) {
      scope->set(d.params[i], eval(*d.defaults[i - first_default], scope));
    } else {
      scope->set(d.params[i],
                 Value::undefined(fmt::format("parameter '{}' was not provided", d.params[i])));
    }
  }
  if (d.uses_caller) scope->set("caller", caller);
  if (d.catch_varargs) scope->set("varargs", Value::tuple(std::move(varargs)));
  if (d.catch_kwargs) scope->set("kwargs", Value::dict(kwargs));
  std::string buf;
  exec(d.body, scope, buf);
  return Value::string(std::move(buf));
}

// ---- macro and loop objects ----

std::string Macro::repr() const { return fmt::format("<Macro {}>", str_repr(name_)); }

std::optional<Value> Macro::getattr(Interp&, const std::string& name) {
  if (name == "name") return Value::string(name_);
  if (name == "arguments") {
    std::vector<Value> params;
    for (const auto& p : def_.params) params.push_back(Value::string(p));
    return Value::tuple(std::move(params));
  }
  if (name == "catch_kwargs") return Value::boolean(def_.catch_kwargs);
  if (name == "catch_varargs") return Value::boolean(def_.catch_varargs);
  if (name == "caller") return Value::boolean(def_.uses_caller);
  return std::nullopt;
}

std::string LoopContext::repr() const {
  return fmt::format("<LoopContext {}/{}>", index0_ + 1, items_.size());
}

Value LoopContext::call(Interp& in, CallArgs& args) {
  if (!stmt_.flag) fail(ErrorKind::Type, "The loop must be marked as 'recursive' to call it.");
  if (args.pos.size() != 1 || !args.kw.empty())
    fail(ErrorKind::Type, "loop() takes exactly one argument");
  return Value::string(in.run_loop(stmt_, scope_, args.pos[0], depth0_ + 1));
}

Value LoopContext::cycle(CallArgs& args) const {
  if (args.pos.empty()) fail(ErrorKind::Type, "no items for cycling given");
  return args.pos[index0_ % args.pos.size()];
}

bool LoopContext::changed(CallArgs& args) {
  const Value v = Value::tuple(args.pos);
  if (last_changed_ && equal(*last_changed_, v)) return false;
  last_changed_ = v;
  return true;
}

std::optional<Value> LoopContext::getattr(Interp&, const std::string& name) {
  const auto n = static_cast<int64_t>(items_.size());
  const auto i = static_cast<int64_t>(index0_);
  if (name == "index0") return Value::integer(i);
  if (name == "index") return Value::integer(i + 1);
  if (name == "revindex0") return Value::integer(n - i - 1);
  if (name == "revindex") return Value::integer(n - i);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == n - 1);
  if (name == "length") return Value::integer(n);
  if (name == "depth0") return Value::integer(depth0_);
  if (name == "depth") return Value::integer(depth0_ + 1);
  if (name == "previtem") {
    return i > 0 ? items_[index0_ - 1] : Value::undefined("there is no previous item");
  }
  if (name == "nextitem") {
    return i + 1 < n ? items_[index0_ + 1] : Value::undefined("there is no next item");
  }
  std::shared_ptr<LoopContext> self = shared_from_this();
  if (name == "cycle") {
    return Value::object(std::make_shared<BuiltinFunction>(
        "cycle", [self](Interp&, CallArgs& args) { return self->cycle(args); }));
  }
  if (name == "changed") {
    return Value::object(std::make_shared<BuiltinFunction>(
        "changed",
        [self](Interp&, CallArgs& args) { return Value::boolean(self->changed(args)); }));
  }
  return std::nullopt;
}

}  // namespace ollmlx::tmpl
