// Recursive-descent parser for jinja2 templates (see parser.h); the structure follows
// jinja2/parser.py so that precedence and error behaviour match.
#include "template/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "template/builtins.h"
#include "template/failure.h"

namespace ollmlx::tmpl {

namespace {

std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::Eof: return "end of template";
    case Tok::BlockEnd: return "end of statement block";
    case Tok::VarEnd: return "end of print statement";
    case Tok::BlockBegin: return "begin of statement block";
    case Tok::VarBegin: return "begin of print statement";
    case Tok::Data: return "template data / text";
    case Tok::String: return "string";
    case Tok::Int: return "integer";
    case Tok::Float: return "float";
    default: return t.text;
  }
}

ExprPtr make(ExprKind k, uint32_t pos) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->pos = pos;
  e->constant = k == ExprKind::Const;
  return e;
}

bool context_filter(const std::string& name) {
  for (const char* f : {"map", "select", "reject", "selectattr", "rejectattr", "random"}) {
    if (name == f) return true;
  }
  return false;
}

StmtPtr make_stmt(StmtKind k, uint32_t pos) {
  auto s = std::make_unique<Stmt>();
  s->kind = k;
  s->pos = pos;
  return s;
}

// Computes the node's height and refuses trees taller than kMaxExprDepth.
ExprPtr seal(ExprPtr e) {
  int d = 0;
  bool constant = e->kind != ExprKind::Call && e->kind != ExprKind::NsRef &&
                  e->kind != ExprKind::Name &&
                  !(e->kind == ExprKind::Filter && (!e->children[0] || context_filter(e->name)));
  bool slices = e->kind == ExprKind::Getitem && e->children[1]->kind == ExprKind::Slice;
  bool bad_dict = false;
  auto see = [&](const ExprPtr& c) {
    if (!c) return;
    bad_dict |= c->bad_dict;
    d = std::max(d, c->depth);
    constant &= c->constant;
    slices |= c->fold || (c->kind == ExprKind::Getitem && c->children[1]->kind == ExprKind::Slice);
  };
  for (const auto& c : e->children) see(c);
  for (const auto& c : e->call.args) see(c);
  for (const auto& kv : e->call.kwargs) see(kv.second);
  see(e->call.dyn_args);
  see(e->call.dyn_kwargs);
  e->depth = d + 1;
  e->constant = constant;
  e->fold = constant && slices;
  // jinja2's optimizer folds constant dict literals below the nodes it optimizes (operators,
  // filters, tests, calls, attribute/item access, conditionals); an unhashable constant key
  // then raises TypeError while compiling, failing the template even in dead code.
  if (e->kind == ExprKind::Dict) {
    for (size_t i = 0; i + 1 < e->children.size(); i += 2) {
      const Expr& k = *e->children[i];
      if (!k.constant || !e->children[i + 1]->constant) break;
      if (k.kind == ExprKind::List || k.kind == ExprKind::Dict) {
        e->bad_dict = true;
        break;
      }
    }
  }
  e->bad_dict |= bad_dict;
  const bool optimized = e->kind != ExprKind::Dict && e->kind != ExprKind::List &&
                         e->kind != ExprKind::Tuple && e->kind != ExprKind::Slice;
  if (e->bad_dict && optimized)
    throw Failure(ErrorKind::Type, "unhashable type in a dict literal", e->pos);
  if (e->depth > kMaxExprDepth) {
    throw Failure(ErrorKind::Syntax, "expression nesting too deep", e->pos);
  }
  return e;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  Body parse() {
    Body body = subparse(nullptr);
    // jinja2 reports unknown filters/tests when compiling, after parsing succeeded; inside
    // `if` statements and conditional expressions they only fail when executed.
    for (const Unknown& u : unknown_) {
      if (!u.soft) fail(u.pos, u.message);
    }

    return body;
  }

 private:
  using Names = std::initializer_list<std::string_view>;

  struct Depth {
    explicit Depth(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth) {
        p_.fail(p_.cur().pos, "template nesting too deep");
      }
    }
    ~Depth() { --p_.depth_; }
    Parser& p_;
  };

  // While parsing a loop body: `break`/`continue` allowed (reset in macro-like bodies).
  struct LoopScope {
    LoopScope(Parser& p, bool in_loop) : p_(p), saved_(p.in_loop_) { p.in_loop_ = in_loop; }
    ~LoopScope() { p_.in_loop_ = saved_; }
    Parser& p_;
    bool saved_;
  };

  // Inside an `if` (test and bodies) or a conditional expression: jinja2's "soft" frames.
  // Constructs with their own frame (loops, macros, blocks...) reset it.
  struct SoftScope {
    SoftScope(Parser& p, bool soft) : p_(p), saved_(p.soft_) { p.soft_ = soft; }
    ~SoftScope() { p_.soft_ = saved_; }
    Parser& p_;
    bool saved_;
  };

  struct Unknown {
    uint32_t pos;
    std::string message;
    bool soft;
  };

  [[noreturn]] void fail(uint32_t pos, std::string msg) {
    throw Failure(ErrorKind::Syntax, std::move(msg), pos);
  }

  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[i_ + 1 < t_.size() ? i_ + 1 : i_]; }
  const Token& next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_op(std::string_view op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(std::string_view n) const { return cur().type == Tok::Name && cur().text == n; }
  static bool tok_is_name(const Token& t, std::string_view n) {
    return t.type == Tok::Name && t.text == n;
  }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail_expected(const std::string& what) {
    if (cur().type == Tok::Eof)
      fail(cur().pos, fmt::format("unexpected end of template, expected '{}'.", what));
    fail(cur().pos, fmt::format("expected token '{}', got '{}'", what, describe(cur())));
  }
  const Token& expect(Tok type, const char* what) {
    if (cur().type != type) fail_expected(what);
    return next();
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) fail_expected(std::string(op));
    next();
  }
  void expect_name(std::string_view n) {
    if (!is_name(n)) fail_expected(fmt::format("name:{}", n));
    next();
  }

  // ---- statements ----

  Body subparse(const Names* end_tokens) {
    if (end_tokens) end_stack_.push_back(*end_tokens);
    Body body;
    while (cur().type != Tok::Eof) {
      const Token& tok = cur();
      if (tok.type == Tok::Data) {
        auto s = make_stmt(StmtKind::Data, tok.pos);
        s->text = tok.text;
        body.push_back(std::move(s));
        next();
      } else if (tok.type == Tok::VarBegin) {
        next();
        auto s = make_stmt(StmtKind::Output, tok.pos);
        s->expr = parse_tuple(false, true, {}, false);
        expect(Tok::VarEnd, "end of print statement");
        body.push_back(std::move(s));
      } else if (tok.type == Tok::BlockBegin) {
        next();
        if (end_tokens && cur().type == Tok::Name) {
          for (std::string_view e : *end_tokens) {
            if (cur().text == e) {
              end_stack_.pop_back();
              return body;
            }
          }
        }
        parse_statement(body);
        expect(Tok::BlockEnd, "end of statement block");
      } else {
        fail(tok.pos, fmt::format("unexpected '{}'", describe(tok)));
      }
    }
    if (end_tokens) end_stack_.pop_back();
    return body;
  }

  Body parse_statements(Names end_tokens, bool drop_needle) {
    skip_op(":");
    expect(Tok::BlockEnd, "end of statement block");
    Body body = subparse(&end_tokens);
    if (cur().type == Tok::Eof) fail_eof(&end_tokens);
    if (drop_needle) next();
    return body;
  }

  std::string looking_for(const Names& names) const {
    std::string s;
    for (std::string_view n : names) {
      if (!s.empty()) s += " or ";
      s += fmt::format("'{}'", n);
    }
    return s;
  }

  [[noreturn]] void fail_unknown(const std::string* name, const Names* extra, uint32_t pos) {
    std::string msg = name ? fmt::format("Encountered unknown tag '{}'.", *name)
                           : std::string("Unexpected end of template.");
    const Names* current = extra ? extra : (end_stack_.empty() ? nullptr : &end_stack_.back());
    if (current) {
      bool expected = false;
      if (name) {
        for (const Names& ns : end_stack_) {
          for (std::string_view n : ns) expected |= n == *name;
        }
      }
      if (expected) {
        msg += fmt::format(
            " You probably made a nesting mistake. Jinja is expecting this tag, but currently "
            "looking for {}.",
            looking_for(*current));
      } else {
        msg += fmt::format(" Jinja was looking for the following tags: {}.", looking_for(*current));
      }
    }
    if (!tag_stack_.empty()) {
      msg +=
          fmt::format(" The innermost block that needs to be closed is '{}'.", tag_stack_.back());
    }
    fail(pos, msg);
  }
  [[noreturn]] void fail_eof(const Names* end_tokens) {
    fail_unknown(nullptr, end_tokens, cur().pos);
  }

  void parse_statement(Body& out) {
    Depth depth(*this);
    const Token& tok = cur();
    if (tok.type != Tok::Name) fail(tok.pos, "tag name expected");
    const std::string name = tok.text;
    static constexpr std::string_view kKnown[] = {
        "for",     "if",     "block",  "extends",  "print",     "macro",
        "include", "from",   "import", "set",      "with",      "autoescape",
        "call",    "filter", "break",  "continue", "generation"};
    bool known = false;
    for (std::string_view k : kKnown) known |= k == name;
    if (!known) fail_unknown(&name, nullptr, tok.pos);
    tag_stack_.push_back(name);
    if (name == "for") {
      out.push_back(parse_for());
    } else if (name == "if") {
      out.push_back(parse_if());
    } else if (name == "set") {
      out.push_back(parse_set());
    } else if (name == "macro") {
      out.push_back(parse_macro());
    } else if (name == "call") {
      out.push_back(parse_call_block());
    } else if (name == "filter") {
      auto s = make_stmt(StmtKind::FilterBlock, next().pos);
      SoftScope soft(*this, false);
      s->filter = parse_filter(nullptr, true);
      s->body = parse_statements({"endfilter"}, true);
      out.push_back(std::move(s));
    } else if (name == "with") {
      out.push_back(parse_with());
    } else if (name == "autoescape") {
      auto s = make_stmt(StmtKind::Autoescape, next().pos);
      s->expr = parse_expression(true);
      SoftScope soft(*this, false);
      s->body = parse_statements({"endautoescape"}, true);
      out.push_back(std::move(s));
    } else if (name == "block") {
      out.push_back(parse_block());
    } else if (name == "print") {
      const uint32_t pos = next().pos;
      bool first = true;
      while (cur().type != Tok::BlockEnd) {
        if (!first) expect_op(",");
        first = false;
        auto s = make_stmt(StmtKind::Output, pos);
        s->expr = parse_expression(true);
        out.push_back(std::move(s));
      }
    } else if (name == "break" || name == "continue") {
      const Token& t = next();
      if (!in_loop_) fail(t.pos, fmt::format("'{}' outside loop", name));
      out.push_back(make_stmt(name == "break" ? StmtKind::Break : StmtKind::Continue, t.pos));
    } else if (name == "generation") {
      // transformers' AssistantTracker: the body renders as a call block (its own scope).
      auto s = make_stmt(StmtKind::Scope, next().pos);
      LoopScope ls(*this, false);
      SoftScope soft(*this, false);
      s->body = parse_statements({"endgeneration"}, true);
      out.push_back(std::move(s));
    } else {
      out.push_back(parse_forbidden(name));
    }
    tag_stack_.pop_back();
  }

  StmtPtr parse_for() {
    auto s = make_stmt(StmtKind::For, next().pos);
    s->target = parse_assign_target(true, false, {"in"}, false);
    expect_name("in");
    s->expr = parse_tuple(false, false, {"recursive"}, false);
    SoftScope soft(*this, false);
    if (skip_name("if")) s->cond = parse_expression(true);
    s->flag = skip_name("recursive");
    {
      LoopScope ls(*this, true);
      s->body = parse_statements({"endfor", "else"}, false);
    }
    if (next().text != "endfor") s->else_body = parse_statements({"endfor"}, true);
    return s;
  }

  StmtPtr parse_if() {
    auto s = make_stmt(StmtKind::If, next().pos);
    SoftScope soft(*this, true);
    while (true) {
      ExprPtr test = parse_tuple(false, false, {}, false);
      Body body = parse_statements({"elif", "else", "endif"}, false);
      s->branches.emplace_back(std::move(test), std::move(body));
      const Token& t = next();
      if (t.text == "elif") continue;
      if (t.text == "else") s->branches.emplace_back(nullptr, parse_statements({"endif"}, true));
      break;
    }
    return s;
  }

  StmtPtr parse_set() {
    const uint32_t pos = next().pos;
    Target target = parse_assign_target(true, false, {}, true);
    if (skip_op("=")) {
      auto s = make_stmt(StmtKind::Set, pos);
      s->target = std::move(target);
      s->expr = parse_tuple(false, true, {}, false);
      return s;
    }
    auto s = make_stmt(StmtKind::SetBlock, pos);
    SoftScope soft(*this, false);
    s->target = std::move(target);
    s->filter = parse_filter(nullptr, false);
    s->body = parse_statements({"endset"}, true);
    return s;
  }

  void parse_signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      const Token& t = expect(Tok::Name, "name");
      s.params.push_back(t.text);
      if (skip_op("=")) {
        s.defaults.push_back(parse_expression(true));
      } else if (!s.defaults.empty()) {
        fail(t.pos, "non-default argument follows default argument");
      }
    }
    expect_op(")");
  }

  StmtPtr parse_macro() {
    auto s = make_stmt(StmtKind::Macro, next().pos);
    SoftScope soft(*this, false);
    s->text = expect(Tok::Name, "name").text;
    parse_signature(*s);
    {
      LoopScope ls(*this, false);
      s->body = parse_statements({"endmacro"}, true);
    }
    scan_special_names(*s);
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = make_stmt(StmtKind::CallBlock, next().pos);
    if (is_op("(")) {
      SoftScope soft(*this, false);
      parse_signature(*s);
    }
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::Call) fail(s->pos, "expected call");
    {
      SoftScope soft(*this, false);
      LoopScope ls(*this, false);
      s->body = parse_statements({"endcall"}, true);
    }
    scan_special_names(*s);
    return s;
  }

  StmtPtr parse_with() {
    auto s = make_stmt(StmtKind::With, next().pos);
    while (cur().type != Tok::BlockEnd) {
      if (!s->with_targets.empty()) expect_op(",");
      s->with_targets.push_back(parse_assign_target(true, false, {}, false));
      expect_op("=");
      s->with_values.push_back(parse_expression(true));
    }
    SoftScope soft(*this, false);
    s->body = parse_statements({"endwith"}, true);
    return s;
  }

  StmtPtr parse_block() {
    auto s = make_stmt(StmtKind::Block, next().pos);
    s->text = expect(Tok::Name, "name").text;
    s->flag = skip_name("scoped");
    skip_name("required");
    if (is_op("-")) {
      fail(cur().pos,
           "Block names in Jinja have to be valid Python identifiers and may not contain "
           "hyphens, use an underscore instead.");
    }
    {
      SoftScope soft(*this, false);
      s->body = parse_statements({"endblock"}, true);
    }
    skip_name(s->text);
    return s;
  }

  // include / import / from / extends parse like jinja2 but fail when executed: templates
  // cannot load other templates.
  StmtPtr parse_forbidden(const std::string& name) {
    auto s = make_stmt(StmtKind::Forbidden, next().pos);
    s->text = name;
    ExprPtr ignored = parse_expression(true);
    auto context = [&] {
      if ((is_name("with") || is_name("without")) && tok_is_name(look(), "context")) {
        next();
        next();
        return true;
      }
      return false;
    };
    if (name == "include") {
      if (is_name("ignore") && tok_is_name(look(), "missing")) {
        next();
        next();
      }
      context();
    } else if (name == "import") {
      expect_name("as");
      expect(Tok::Name, "name");
      context();
    } else if (name == "from") {
      expect_name("import");
      bool first = true;
      while (true) {
        if (!first) expect_op(",");
        first = false;
        if (cur().type != Tok::Name) {
          expect(Tok::Name, "name");
        }
        if (context()) break;
        next();
        if (skip_name("as")) expect(Tok::Name, "name");
        if (context() || !is_op(",")) break;
      }
    }
    return s;
  }

  // ---- assignment targets ----

  Target to_target(const Expr& e) {
    Target t;
    t.pos = e.pos;
    if (e.kind == ExprKind::Name) {
      t.kind = Target::Kind::Name;
      t.name = e.name;
    } else if (e.kind == ExprKind::NsRef) {
      t.kind = Target::Kind::NsAttr;
      t.name = e.name;
      t.attr = e.value.str();
    } else if (e.kind == ExprKind::Tuple) {
      t.kind = Target::Kind::Tuple;
      for (const auto& c : e.children) t.items.push_back(to_target(*c));
    } else {
      const char* what = e.kind == ExprKind::Const  ? "const"
                         : e.kind == ExprKind::List ? "list"
                         : e.kind == ExprKind::Dict ? "dict"
                                                    : "expression";
      fail(e.pos, fmt::format("can't assign to '{}'", what));
    }
    return t;
  }

  Target parse_assign_target(bool with_tuple, bool name_only, Names extra_end,
                             bool with_namespace) {
    if (name_only) {
      const Token& t = expect(Tok::Name, "name");
      Target target;
      target.name = t.text;
      target.pos = t.pos;
      return target;
    }
    ExprPtr e = with_tuple ? parse_tuple(true, true, extra_end, false, with_namespace)
                           : parse_primary(with_namespace);
    return to_target(*e);
  }

  // ---- expressions ----

  bool is_tuple_end(Names extra_end) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")")) return true;
    for (std::string_view n : extra_end) {
      if (is_name(n)) return true;
    }
    return false;
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, Names extra_end, bool explicit_parens,
                      bool with_namespace = false) {
    const uint32_t pos = cur().pos;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      args.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) {
        fail(cur().pos, fmt::format("Expected an expression, got '{}'", describe(cur())));
      }
    }
    auto t = make(ExprKind::Tuple, pos);
    t->children = std::move(args);
    return seal(std::move(t));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    Depth depth(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    const size_t first_unknown = unknown_.size();
    ExprPtr expr1 = parse_or();
    if (!is_name("if")) return expr1;
    for (size_t i = first_unknown; i < unknown_.size(); ++i) unknown_[i].soft = true;
    SoftScope soft(*this, true);
    while (is_name("if")) {
      const uint32_t pos = next().pos;
      ExprPtr expr2 = parse_or();
      ExprPtr expr3;
      if (skip_name("else")) {
        Depth depth(*this);
        expr3 = parse_condexpr();
      }
      auto c = make(ExprKind::Cond, pos);
      c->children.push_back(std::move(expr2));
      c->children.push_back(std::move(expr1));
      c->children.push_back(std::move(expr3));
      expr1 = seal(std::move(c));
    }
    return expr1;
  }

  ExprPtr binary_node(ExprKind k, uint32_t pos, ExprPtr l, ExprPtr r) {
    auto e = make(k, pos);
    e->children.push_back(std::move(l));
    e->children.push_back(std::move(r));
    return seal(std::move(e));
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const uint32_t pos = next().pos;
      left = binary_node(ExprKind::Or, pos, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const uint32_t pos = next().pos;
      left = binary_node(ExprKind::And, pos, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Depth depth(*this);
      auto e = make(ExprKind::Not, next().pos);
      e->children.push_back(parse_not());
      return seal(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const uint32_t pos = cur().pos;
    ExprPtr expr = parse_math1();
    ExprPtr cmp;
    while (true) {
      CmpOp op;
      if (cur().type == Tok::Op && cur().text == "==") {
        op = CmpOp::Eq;
      } else if (is_op("!=")) {
        op = CmpOp::Ne;
      } else if (is_op("<")) {
        op = CmpOp::Lt;
      } else if (is_op("<=")) {
        op = CmpOp::Le;
      } else if (is_op(">")) {
        op = CmpOp::Gt;
      } else if (is_op(">=")) {
        op = CmpOp::Ge;
      } else if (is_name("in")) {
        op = CmpOp::In;
      } else if (is_name("not") && tok_is_name(look(), "in")) {
        next();
        op = CmpOp::NotIn;
      } else {
        break;
      }
      next();
      if (!cmp) {
        cmp = make(ExprKind::Compare, pos);
        cmp->children.push_back(std::move(expr));
      }
      cmp->cmp_ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? seal(std::move(cmp)) : std::move(expr);
  }

  ExprPtr binop(BinOp op, uint32_t pos, ExprPtr l, ExprPtr r) {
    auto e = binary_node(ExprKind::Binary, pos, std::move(l), std::move(r));
    e->op = op;
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const BinOp op = cur().text == "+" ? BinOp::Add : BinOp::Sub;
      const uint32_t pos = next().pos;
      left = binop(op, pos, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    const uint32_t pos = cur().pos;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(ExprKind::Concat, pos);
    e->children.push_back(std::move(first));
    while (skip_op("~")) e->children.push_back(parse_math2());
    return seal(std::move(e));
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string& t = cur().text;
      const BinOp op = t == "*"    ? BinOp::Mul
                       : t == "/"  ? BinOp::Div
                       : t == "//" ? BinOp::FloorDiv
                                   : BinOp::Mod;
      const uint32_t pos = next().pos;
      left = binop(op, pos, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const uint32_t pos = next().pos;
      left = binop(BinOp::Pow, pos, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    Depth depth(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const ExprKind k = cur().text == "-" ? ExprKind::Neg : ExprKind::Pos;
      node = make(k, next().pos);
      node->children.push_back(parse_unary(false));
      node = seal(std::move(node));
    } else {
      node = parse_primary(false);
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary(bool with_namespace) {
    Depth depth(*this);
    const Token& tok = cur();
    if (tok.type == Tok::Name) {
      next();
      if (tok.text == "true" || tok.text == "True" || tok.text == "false" || tok.text == "False") {
        auto e = make(ExprKind::Const, tok.pos);
        e->value = Value::boolean(tok.text == "true" || tok.text == "True");
        return e;
      }
      if (tok.text == "none" || tok.text == "None") {
        auto e = make(ExprKind::Const, tok.pos);
        e->value = Value::none();
        return e;
      }
      if (with_namespace && is_op(".")) {
        next();
        auto e = make(ExprKind::NsRef, tok.pos);
        e->name = tok.text;
        e->value = Value::string(expect(Tok::Name, "name").text);
        return e;
      }
      auto e = make(ExprKind::Name, tok.pos);
      e->name = tok.text;
      return e;
    }
    if (tok.type == Tok::String) {
      std::string s;
      while (cur().type == Tok::String) s += next().text;
      auto e = make(ExprKind::Const, tok.pos);
      e->value = Value::string(std::move(s));
      return e;
    }
    if (tok.type == Tok::Int || tok.type == Tok::Float) {
      next();
      auto e = make(ExprKind::Const, tok.pos);
      e->value = tok.type == Tok::Int ? Value::integer(tok.ival) : Value::number(tok.fval);
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(false, true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) return parse_list();
    if (is_op("{")) return parse_dict();
    if (tok.type == Tok::Eof) fail(tok.pos, "unexpected end of template");
    fail(tok.pos, fmt::format("unexpected '{}'", describe(tok)));
  }

  ExprPtr parse_list() {
    auto e = make(ExprKind::List, next().pos);
    while (!is_op("]")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("]")) break;
      e->children.push_back(parse_expression(true));
    }
    expect_op("]");
    return seal(std::move(e));
  }

  ExprPtr parse_dict() {
    auto e = make(ExprKind::Dict, next().pos);
    while (!is_op("}")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("}")) break;
      e->children.push_back(parse_expression(true));
      expect_op(":");
      e->children.push_back(parse_expression(true));
    }
    expect_op("}");
    return seal(std::move(e));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    Depth depth(*this);
    const Token& tok = next();
    if (tok.text == ".") {
      const Token& attr = next();
      if (attr.type == Tok::Name) {
        auto e = make(ExprKind::Getattr, tok.pos);
        e->children.push_back(std::move(node));
        e->name = attr.text;
        return seal(std::move(e));
      }
      if (attr.type != Tok::Int) fail(attr.pos, "expected name or number");
      auto key = make(ExprKind::Const, attr.pos);
      key->value = Value::integer(attr.ival);
      auto e = make(ExprKind::Getitem, tok.pos);
      e->children.push_back(std::move(node));
      e->children.push_back(std::move(key));
      return seal(std::move(e));
    }
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = make(ExprKind::Getitem, tok.pos);
    e->children.push_back(std::move(node));
    if (args.size() == 1) {
      e->children.push_back(std::move(args[0]));
    } else {
      auto t = make(ExprKind::Tuple, tok.pos);
      t->children = std::move(args);
      e->children.push_back(seal(std::move(t)));
    }
    return seal(std::move(e));
  }

  ExprPtr parse_subscribed() {
    const uint32_t pos = cur().pos;
    auto slice = make(ExprKind::Slice, pos);
    if (is_op(":")) {
      next();
      slice->children.push_back(nullptr);
    } else {
      ExprPtr node = parse_expression(true);
      if (!is_op(":")) return node;
      next();
      slice->children.push_back(std::move(node));
    }
    if (is_op(":")) {
      slice->children.push_back(nullptr);
    } else if (!is_op("]") && !is_op(",")) {
      slice->children.push_back(parse_expression(true));
    } else {
      slice->children.push_back(nullptr);
    }
    if (is_op(":")) {
      next();
      if (!is_op("]") && !is_op(",")) {
        slice->children.push_back(parse_expression(true));
      } else {
        slice->children.push_back(nullptr);
      }
    } else {
      slice->children.push_back(nullptr);
    }
    return seal(std::move(slice));
  }

  void parse_call_args(CallSpec& call) {
    const uint32_t pos = cur().pos;
    expect_op("(");
    auto ensure = [&](bool ok) {
      if (!ok) fail(pos, "invalid syntax for function call expression");
    };
    bool require_comma = false;
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*")) {
        ensure(!call.dyn_args && !call.dyn_kwargs);
        next();
        call.dyn_args = parse_expression(true);
      } else if (is_op("**")) {
        ensure(!call.dyn_kwargs);
        next();
        call.dyn_kwargs = parse_expression(true);
      } else if (cur().type == Tok::Name && look().type == Tok::Op && look().text == "=") {
        ensure(!call.dyn_kwargs);
        std::string key = next().text;
        next();
        call.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!call.dyn_args && !call.dyn_kwargs && call.kwargs.empty());
        call.args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node) {
    Depth depth(*this);
    auto e = make(ExprKind::Call, node->pos);
    e->children.push_back(std::move(node));
    parse_call_args(e->call);
    return seal(std::move(e));
  }

  std::string dotted_name() {
    std::string name = expect(Tok::Name, "name").text;
    while (is_op(".")) {
      next();
      name += "." + expect(Tok::Name, "name").text;
    }
    return name;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      Depth depth(*this);
      if (!start_inline) next();
      const uint32_t pos = cur().pos;
      auto e = make(ExprKind::Filter, pos);
      e->name = dotted_name();
      if (!find_filter(e->name))
        unknown_.push_back({pos, fmt::format("No filter named '{}'.", e->name), soft_});
      if (is_op("(")) parse_call_args(e->call);
      e->children.push_back(std::move(node));
      node = seal(std::move(e));
      start_inline = false;
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    Depth depth(*this);
    const uint32_t pos = next().pos;
    const bool negated = skip_name("not");
    const uint32_t name_pos = cur().pos;
    auto e = make(ExprKind::Test, pos);
    e->name = dotted_name();
    if (!find_test(e->name))
      unknown_.push_back({name_pos, fmt::format("No test named '{}'.", e->name), soft_});
    if (is_op("(")) {
      parse_call_args(e->call);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail(cur().pos, "You cannot chain multiple tests with is");
      ExprPtr arg = parse_primary(false);
      e->call.args.push_back(parse_postfix(std::move(arg)));
    }
    e->children.push_back(std::move(node));
    e = seal(std::move(e));
    if (!negated) return e;
    auto n = make(ExprKind::Not, pos);
    n->children.push_back(std::move(e));
    return seal(std::move(n));
  }

  // ---- macro signature analysis ----

  static void scan_expr(const Expr* e, Stmt& m) {
    if (!e) return;
    if (e->kind == ExprKind::Name) {
      m.catch_varargs |= e->name == "varargs";
      m.catch_kwargs |= e->name == "kwargs";
      m.uses_caller |= e->name == "caller";
    }
    for (const auto& c : e->children) scan_expr(c.get(), m);
    for (const auto& c : e->call.args) scan_expr(c.get(), m);
    for (const auto& kv : e->call.kwargs) scan_expr(kv.second.get(), m);
    scan_expr(e->call.dyn_args.get(), m);
    scan_expr(e->call.dyn_kwargs.get(), m);
  }

  static void scan_body(const Body& body, Stmt& m) {
    for (const auto& s : body) {
      scan_expr(s->expr.get(), m);
      scan_expr(s->cond.get(), m);
      scan_expr(s->filter.get(), m);
      for (const auto& [test, b] : s->branches) {
        scan_expr(test.get(), m);
        scan_body(b, m);
      }
      for (const auto& d : s->defaults) scan_expr(d.get(), m);
      for (const auto& v : s->with_values) scan_expr(v.get(), m);
      scan_body(s->body, m);
      scan_body(s->else_body, m);
    }
  }

  void scan_special_names(Stmt& m) {
    const bool was_caller = m.uses_caller;
    scan_body(m.body, m);
    for (const auto& d : m.defaults) scan_expr(d.get(), m);
    if (m.kind == StmtKind::CallBlock) m.uses_caller = was_caller;
  }

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
  bool in_loop_ = false;
  bool soft_ = false;
  std::vector<Unknown> unknown_;

  std::vector<Names> end_stack_;
  std::vector<std::string> tag_stack_;
};

}  // namespace

Body parse_template(const std::vector<Token>& tokens) { return Parser(tokens).parse(); }

}  // namespace ollmlx::tmpl
