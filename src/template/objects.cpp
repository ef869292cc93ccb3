// Built-in object types (see objects.h) and Python-style argument binding.
#include "template/objects.h"

#include <fmt/format.h>

#include "template/failure.h"

namespace ollmlx::tmpl {

std::optional<Value> BuiltinFunction::getattr(Interp&, const std::string& name) {
  for (const auto& [k, v] : attrs_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::string BoundMethod::repr() const {
  return fmt::format("<built-in method {} of {} object>", name_, tmpl::type_name(self_));
}

Value BoundMethod::call(Interp& in, CallArgs& args) { return call_method(in, self_, name_, args); }

Namespace::~Namespace() {
  std::vector<Value> values;
  for (auto& kv : attrs_) values.push_back(std::move(kv.second));
  attrs_.clear();
  release_values(std::move(values));
}

std::string Namespace::repr() const {
  ReprGuard guard(this);
  if (guard.recursive()) return "<Namespace {...}>";
  std::string s = "<Namespace {";
  for (size_t i = 0; i < attrs_.size(); ++i) {
    if (i) s += ", ";
    s += tmpl::repr(Value::string(attrs_[i].first)) + ": " + tmpl::repr(attrs_[i].second);
  }
  return s + "}>";
}

std::optional<Value> Namespace::getattr(Interp&, const std::string& name) {
  for (const auto& [k, v] : attrs_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

void Namespace::set(const std::string& name, Value v) {
  if (!name.empty() && name[0] == '_') {
    failf(ErrorKind::Security,
          "Chat templates cannot store underscore-prefixed attributes on a namespace, but got "
          "'{}'. Please rename the attribute.",
          name);
  }
  for (auto& [k, old] : attrs_) {
    if (k == name) {
      old = std::move(v);
      return;
    }
  }
  attrs_.emplace_back(name, std::move(v));
}

std::optional<Value> Cycler::getattr(Interp&, const std::string& name) {
  if (name == "current") return items_.empty() ? Value::none() : items_[pos_];
  // The bound methods keep the cycler alive.
  std::shared_ptr<Cycler> self = shared_from_this();
  if (name == "next") {
    return Value::object(std::make_shared<BuiltinFunction>("next", [self](Interp&, CallArgs&) {
      if (self->items_.empty()) fail(ErrorKind::Runtime, "cycler has no items");
      Value v = self->items_[self->pos_];
      self->pos_ = (self->pos_ + 1) % self->items_.size();
      return v;
    }));
  }
  if (name == "reset") {
    return Value::object(std::make_shared<BuiltinFunction>("reset", [self](Interp&, CallArgs&) {
      self->pos_ = 0;
      return Value::none();
    }));
  }
  return std::nullopt;
}

Value Joiner::call(Interp&, CallArgs&) {
  if (!used_) {
    used_ = true;
    return Value::string("");
  }
  return Value::string(sep_);
}

std::optional<std::vector<Value>> Iterator::iterate(Interp&) {
  if (consumed_) return std::vector<Value>{};
  consumed_ = true;
  return std::move(items_);
}

std::vector<const Value*> bind_args(const CallArgs& args, std::string_view function,
                                    std::initializer_list<std::string_view> names,
                                    size_t required) {
  std::vector<const Value*> out(names.size(), nullptr);
  if (args.pos.size() > names.size()) {
    failf(ErrorKind::Type, "{}() takes at most {} argument(s) ({} given)", function, names.size(),
          args.pos.size());
  }
  for (size_t i = 0; i < args.pos.size(); ++i) out[i] = &args.pos[i];
  for (const auto& [key, value] : args.kw) {
    size_t idx = 0;
    bool found = false;
    for (std::string_view n : names) {
      if (n == key) {
        found = true;
        break;
      }
      ++idx;
    }
    if (!found)
      failf(ErrorKind::Type, "{}() got an unexpected keyword argument '{}'", function, key);
    if (out[idx])
      failf(ErrorKind::Type, "{}() got multiple values for argument '{}'", function, key);
    out[idx] = &value;
  }
  for (size_t i = 0; i < required; ++i) {
    if (!out[i]) {
      failf(ErrorKind::Type, "{}() missing required argument '{}'", function, *(names.begin() + i));
    }
  }
  return out;
}

int64_t arg_int(const Value* v, int64_t dflt, std::string_view what) {
  if (!v || v->is_none()) return dflt;
  if (v->is_integral()) return v->as_int();
  if (v->is_undefined()) fail_undefined(*v);
  failf(ErrorKind::Type, "{}: '{}' object cannot be interpreted as an integer", what,
        type_name(*v));
}

std::string arg_str(const Value* v, const std::string& dflt, std::string_view what) {
  if (!v || v->is_none()) return dflt;
  if (v->is_str()) return v->str();
  failf(ErrorKind::Type, "{}: must be str, not {}", what, type_name(*v));
}

}  // namespace ollmlx::tmpl
