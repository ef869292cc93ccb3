// The parsed form of a template: expression and statement nodes, mirroring jinja2's nodes
// closely enough that evaluation can follow jinja2's semantics one node at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace ollmlx::tmpl {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind : uint8_t {
  Const,    // value
  Name,     // name
  List,     // children = items
  Tuple,    // children = items
  Dict,     // children = key, value, key, value, ...
  Getattr,  // children[0] . name
  Getitem,  // children[0] [ children[1] ]
  Slice,    // children = start, stop, step (each may be null); only as a Getitem key
  Call,     // children[0] ( call )
  Filter,   // children[0] | name ( call ); children[0] is null in filter blocks
  Test,     // children[0] is name ( call )
  Not,
  Neg,
  Pos,
  Binary,   // children[0] op children[1]
  Compare,  // children[0] cmp_ops[i] children[i+1] ...
  And,
  Or,
  Concat,  // children joined with ~
  Cond,    // children = test, then, else (else may be null)
  NsRef,   // name . value (only as an assignment target)
};

enum class BinOp : uint8_t { Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
enum class CmpOp : uint8_t { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct CallSpec {
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args;    // *args
  ExprPtr dyn_kwargs;  // **kwargs
};

struct Expr {
  ExprKind kind;
  uint32_t pos = 0;
  int depth = 1;  // height of this subtree (bounded by the parser)
  // No variables, calls or context filters: jinja2 folds it when compiling.
  bool constant = false;
  // Constant and slicing something: compile-time folding (sandbox getitem, failures give
  // undefined) differs from run time (plain subscript, failures raise), so the evaluator
  // folds such subtrees itself.
  bool fold = false;
  // Contains a constant dict literal with an unhashable constant key (see parser seal()).
  bool bad_dict = false;
  Value value;
  std::string name;
  std::vector<ExprPtr> children;
  CallSpec call;
  BinOp op = BinOp::Add;
  std::vector<CmpOp> cmp_ops;
};

// An assignment target: a name, a tuple of targets, or a namespace attribute (ns.attr).
struct Target {
  enum class Kind : uint8_t { Name, Tuple, NsAttr } kind = Kind::Name;
  std::string name;
  std::string attr;
  std::vector<Target> items;
  uint32_t pos = 0;
};

enum class StmtKind : uint8_t {
  Data,         // text
  Output,       // {{ expr }} (also {% print %})
  If,           // branches (test null = else)
  For,          // target in expr [if cond] [recursive]: body [else else_body]
  Set,          // target = expr
  SetBlock,     // {% set target | filters %}body{% endset %}
  Macro,        // name(params=defaults): body
  CallBlock,    // {% call(params) expr %}body{% endcall %}
  FilterBlock,  // {% filter filters %}body{% endfilter %}
  With,         // with_targets = with_values: body
  Break,
  Continue,
  Block,       // {% block name [scoped] %}body{% endblock %}
  Autoescape,  // {% autoescape expr %}body{% endautoescape %}
  Scope,       // body in its own scope ({% generation %} of transformers)
  Forbidden,   // include / import / from / extends: fails when executed
};

struct Stmt {
  StmtKind kind;
  uint32_t pos = 0;
  std::string text;  // Data text; Macro/Block name; Forbidden tag name
  ExprPtr expr;      // Output, For iterable, Set value, CallBlock call, Autoescape value
  ExprPtr cond;      // For filter condition
  ExprPtr filter;    // SetBlock/FilterBlock filter chain (innermost subject is null)
  std::vector<std::pair<ExprPtr, Body>> branches;
  Target target;
  Body body;
  Body else_body;
  bool flag = false;  // For: recursive; Block: scoped
  // Macro and CallBlock signature.
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  bool catch_varargs = false;
  bool catch_kwargs = false;
  bool uses_caller = false;
  // With.
  std::vector<Target> with_targets;
  std::vector<ExprPtr> with_values;
};

}  // namespace ollmlx::tmpl
