// Built-in object types templates can see: functions, bound methods, jinja2's namespace /
// cycler / joiner, and one-shot iterators (what map/select/reverse return in jinja2: they are
// always truthy, have no len() and are consumed by iterating them).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace ollmlx::tmpl {

class BuiltinFunction : public Object {
 public:
  using Fn = std::function<Value(Interp&, CallArgs&)>;
  BuiltinFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }
  bool callable() const override { return true; }
  Value call(Interp& in, CallArgs& args) override { return fn_(in, args); }
  std::optional<Value> getattr(Interp& in, const std::string& name) override;
  void add_attribute(std::string name, Value v) {
    attrs_.emplace_back(std::move(name), std::move(v));
  }

 private:
  std::string name_;
  Fn fn_;
  std::vector<std::pair<std::string, Value>> attrs_;
};

// A method of a built-in value (str.strip, dict.items, ...) bound to its receiver.
class BoundMethod : public Object {
 public:
  BoundMethod(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  ~BoundMethod() override {
    std::vector<Value> v;
    v.push_back(std::move(self_));
    release_values(std::move(v));
  }
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override;
  bool callable() const override { return true; }
  Value call(Interp& in, CallArgs& args) override;

 private:
  Value self_;
  std::string name_;
};

// Calls the Python method `name` of a built-in value (methods.cpp).
Value call_method(Interp& in, const Value& self, const std::string& name, CallArgs& args);

// jinja2.utils.Namespace (as transformers' TemplateNamespace): the only mutable object.
class Namespace : public Object {
 public:
  ~Namespace() override;
  std::string type_name() const override { return "Namespace"; }
  std::string repr() const override;
  std::optional<Value> getattr(Interp& in, const std::string& name) override;
  // SecurityError for names starting with '_' (transformers' TemplateNamespace).
  void set(const std::string& name, Value v);
  void release() override { attrs_.clear(); }

 private:
  std::vector<std::pair<std::string, Value>> attrs_;
};

class Cycler : public Object, public std::enable_shared_from_this<Cycler> {
 public:
  explicit Cycler(std::vector<Value> items) : items_(std::move(items)) {}
  ~Cycler() override { release_values(std::move(items_)); }
  std::string type_name() const override { return "Cycler"; }
  void release() override { items_.clear(); }
  std::optional<Value> getattr(Interp& in, const std::string& name) override;

 private:
  std::vector<Value> items_;
  size_t pos_ = 0;
};

class Joiner : public Object {
 public:
  explicit Joiner(std::string sep) : sep_(std::move(sep)) {}
  std::string type_name() const override { return "Joiner"; }
  bool callable() const override { return true; }
  Value call(Interp& in, CallArgs& args) override;

 private:
  std::string sep_;
  bool used_ = false;
};

class Iterator : public Object {
 public:
  Iterator(std::vector<Value> items, std::string type)
      : items_(std::move(items)), type_(std::move(type)) {}
  ~Iterator() override { release_values(std::move(items_)); }
  std::string type_name() const override { return type_; }
  std::string repr() const override { return "<" + type_ + " object>"; }
  std::optional<std::vector<Value>> iterate(Interp& in) override;
  void release() override { items_.clear(); }

 private:
  std::vector<Value> items_;
  std::string type_;
  bool consumed_ = false;
};

inline Value make_iterator(std::vector<Value> items, std::string type = "generator") {
  return Value::object(std::make_shared<Iterator>(std::move(items), std::move(type)));
}

// Python-style argument binding: maps positional and keyword arguments onto `names`
// (TypeError for too many, unknown or duplicate arguments). Unset entries are null.
std::vector<const Value*> bind_args(const CallArgs& args, std::string_view function,
                                    std::initializer_list<std::string_view> names,
                                    size_t required = 0);

// Argument conversions (TypeError naming `what` on a wrong type; null or None -> default).
int64_t arg_int(const Value* v, int64_t dflt, std::string_view what);
std::string arg_str(const Value* v, const std::string& dflt, std::string_view what);
inline bool arg_bool(const Value* v, bool dflt) { return v ? truthy(*v) : dflt; }

}  // namespace ollmlx::tmpl
