// The tree-walking interpreter: scopes, macro and loop objects, and the Python operations
// (attribute/item access, calls, iteration, arithmetic) that filters and methods share.
// Scoping follows jinja2: for-loop iterations, macros, call/filter/set blocks and `with` get
// their own scope; `if` does not.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "template/ast.h"
#include "template/jinja.h"
#include "template/value.h"

namespace ollmlx::tmpl {

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value value);

 private:
  std::shared_ptr<Scope> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { Normal, Break, Continue };

class Interp {
 public:
  Interp(const RenderOptions& options, std::shared_ptr<const DictData> context);
  ~Interp();
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  // Objects that may take part in reference cycles; released when the render ends.
  void track(const std::shared_ptr<Object>& obj);

  std::string render(const Body& root);

  Value eval(const Expr& e, const ScopePtr& scope);
  // Evaluates a constant subtree as jinja2's compile-time folding does; nullopt when folding
  // fails (jinja2 then evaluates it at run time).
  std::optional<Value> try_fold(const Expr& e, const ScopePtr& scope);
  Flow exec(const Body& body, const ScopePtr& scope, std::string& out);

  // Python/jinja2 operations.
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value call(const Value& callee, CallArgs& args);
  std::vector<Value> iterate(const Value& v);
  bool contains(const Value& container, const Value& item);
  Value binary(BinOp op, const Value& a, const Value& b);
  Value apply_filter(const std::string& name, const Value& v, CallArgs& args);
  bool apply_test(const std::string& name, const Value& v, CallArgs& args);

  // Spends evaluation budget; Limit error when it runs out.
  void charge(uint64_t steps = 1);
  // Limit error when a string of this size may not be built.
  void check_size(size_t bytes) const;
  const RenderOptions& options() const { return options_; }

  // Macro invocation (also used for call-block callers and recursive loops).
  Value call_macro(const class Macro& m, CallArgs& args);
  std::string run_loop(const Stmt& loop, const ScopePtr& scope, const Value& iterable, int depth0);

 private:
  friend class NestingGuard;
  Value lookup(const std::string& name, const ScopePtr& scope) const;
  Value eval_node(const Expr& e, const ScopePtr& scope);
  Value eval_call(const Expr& e, const ScopePtr& scope, const Value* caller);
  CallArgs eval_args(const CallSpec& spec, const ScopePtr& scope);
  Value eval_filter_chain(const Expr& e, const ScopePtr& scope, const Value& subject);
  Value eval_slice(const Value& obj, const Expr& slice, const ScopePtr& scope);
  Value eval_compare(const Expr& e, const ScopePtr& scope);
  Flow exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out);
  Flow exec_node(const Stmt& s, const ScopePtr& scope, std::string& out);
  // Cases kept out of the recursive dispatchers so their frames stay small (recursion depth
  // is what a hostile template controls).
  [[gnu::noinline]] void exec_output(const Stmt& s, const ScopePtr& scope, std::string& out);
  [[gnu::noinline]] Flow exec_block_stmt(const Stmt& s, const ScopePtr& scope, std::string& out);
  [[gnu::noinline]] Value eval_sequence(const Expr& e, const ScopePtr& scope);
  [[gnu::noinline]] Value eval_unary(const Expr& e, const ScopePtr& scope);
  [[gnu::noinline]] Value eval_concat(const Expr& e, const ScopePtr& scope);
  [[gnu::noinline]] Value negative_base_pow(const Value& base, const Value& exponent);
  Flow exec_for(const Stmt& s, const ScopePtr& scope, std::string& out, const Value& iterable,
                int depth0);
  void assign(const Target& t, const Value& v, const ScopePtr& scope);
  void append(std::string& out, std::string_view text) const;

  RenderOptions options_;
  std::shared_ptr<const DictData> context_;
  std::shared_ptr<DictData> globals_;
  ScopePtr root_;
  uint64_t steps_ = 0;
  int nesting_ = 0;
  int call_depth_ = 0;
  bool autoescape_ = false;
  // Evaluating a constant {{ }} the way jinja2 folds it at compile time (slices go through
  // the sandbox's getitem, so failures give undefined instead of raising).
  bool folding_ = false;
  std::vector<std::weak_ptr<Object>> tracked_;
};

// Counts evaluation frames so hostile templates cannot exhaust the stack.
class NestingGuard {
 public:
  explicit NestingGuard(Interp& in);
  ~NestingGuard() { --in_.nesting_; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;

 private:
  Interp& in_;
};

// A {% macro %} (or the `caller` of a {% call %} block) bound to its defining scope.
class Macro : public Object {
 public:
  Macro(const Stmt& def, ScopePtr closure, std::string name)
      : def_(def), closure_(std::move(closure)), name_(std::move(name)) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr() const override;
  bool callable() const override { return true; }
  Value call(Interp& in, CallArgs& args) override { return in.call_macro(*this, args); }
  std::optional<Value> getattr(Interp& in, const std::string& name) override;

  const Stmt& def() const { return def_; }
  const ScopePtr& closure() const { return closure_; }
  const std::string& name() const { return name_; }
  void release() override { closure_.reset(); }

 private:
  const Stmt& def_;
  ScopePtr closure_;
  std::string name_;
};

// jinja2's LoopContext: the `loop` variable of a for loop.
class LoopContext : public Object, public std::enable_shared_from_this<LoopContext> {
 public:
  LoopContext(std::vector<Value> items, int depth0, const Stmt& stmt, ScopePtr scope)
      : items_(std::move(items)), depth0_(depth0), stmt_(stmt), scope_(std::move(scope)) {}
  ~LoopContext() override { release_values(std::move(items_)); }
  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override;
  bool truthy() const override { return !items_.empty(); }
  bool callable() const override { return true; }
  Value call(Interp& in, CallArgs& args) override;
  std::optional<Value> getattr(Interp& in, const std::string& name) override;
  std::optional<int64_t> length() const override { return static_cast<int64_t>(items_.size()); }

  const std::vector<Value>& items() const { return items_; }
  void set_index(size_t i) { index0_ = i; }
  Value cycle(CallArgs& args) const;
  bool changed(CallArgs& args);
  void release() override {
    items_.clear();
    scope_.reset();
    last_changed_.reset();
  }

 private:
  std::vector<Value> items_;
  size_t index0_ = 0;
  int depth0_;
  const Stmt& stmt_;
  ScopePtr scope_;
  std::optional<Value> last_changed_;
};

}  // namespace ollmlx::tmpl
